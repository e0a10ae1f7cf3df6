//! The answer cap (`max_response_size`): an answer up to the cap goes out whole, a larger
//! one is replaced by an error naming the cap, over real HTTP, for inline and slow
//! actions alike.

mod common;

use nano_api::ApiContext;
use nano_core::Network;
use serde_json::json;

#[test]
fn answers_over_the_cap_are_refused_with_an_error_naming_it() {
    // key_create answers three 64-character keys and an address (about 250 bytes).
    let mut ctx = ApiContext::new(Network::Dev);
    ctx.max_response_size = 100;
    let small = common::start_ctx(true, ctx);
    let refused = common::post(small.addr, json!({"action": "key_create"}));
    assert_eq!(
        refused["error"],
        nano_api::response_cap::too_large(100),
        "{refused}"
    );
    // A slow action (work generation, answer about 170 bytes) goes through the same cap
    // on the pool.
    let work = json!({"action": "work_generate", "hash": "01".repeat(32)});
    let refused = common::post(small.addr, work.clone());
    assert_eq!(
        refused["error"],
        nano_api::response_cap::too_large(100),
        "{refused}"
    );

    let mut ctx = ApiContext::new(Network::Dev);
    ctx.max_response_size = 10_000;
    let roomy = common::start_ctx(true, ctx);
    let key = common::post(roomy.addr, json!({"action": "key_create"}));
    assert_eq!(key["private"].as_str().map(str::len), Some(64), "{key}");
    let done = common::post(roomy.addr, work);
    assert_eq!(done["work"].as_str().map(str::len), Some(16), "{done}");
}
