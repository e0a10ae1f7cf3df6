//! The WebSocket notification server (`[node.websocket]`): sessions, their per-topic
//! subscriptions and options, the acknowledgement protocol, and the fan-out of node events
//! from the [`EventBus`](nano_node::events::EventBus) to every interested session in the
//! reference node's JSON shapes.
//!
//! Shape of the fan-out: one dispatcher task reads the bus, builds each outgoing message
//! at most once per distinct option set, and hands it to every session's bounded queue with
//! a non-blocking `try_send`. Each session has its own writer task. A session whose queue
//! is full loses messages (counted); one whose queue stays full longer than
//! [`WebsocketSettings::stall_timeout`], or whose socket write does not complete within it,
//! is disconnected. So a slow client never slows the node or the other clients.
//!
//! Deliberate differences from the reference node, both additive:
//! - a frame that is not JSON is answered with `{"error":"Unable to parse JSON"}` and the
//!   session keeps reading (the reference silently stops reading from that session);
//! - `active_difficulty` (removed from the reference in V22) is still served in its V21
//!   shape, periodically, so older clients keep working.
//!
//! Layout, each module using only those after it: [`server`] binds, accepts and fans
//! events out; [`session`] runs one client's reader and writer, applies its requests and
//! replays what it missed; [`hub`] holds what both share (settings, the sessions' queue
//! handles, counters, the delivery and filter rules); [`messages`] builds the JSON the
//! clients receive; [`topics`] parses subscriptions and their options.

mod hub;
mod messages;
mod server;
mod session;
mod topics;

pub use hub::{DifficultySource, LocalAccounts, WebsocketSettings};
pub use server::{WebsocketMetrics, WebsocketServer};
pub use topics::Topic;
