//! Auto-receive: when a send to a wallet account is confirmed, the node receives it (if
//! at or above the receive minimum and the wallet is unlocked), as the reference node's
//! wallets do. Runs on the blocking pool because it works, signs and waits for the block
//! processor.

use std::sync::Arc;

use nano_api::ApiContext;
use nano_node::events::{EventBus, NodeEvent};
use tokio::task::JoinHandle;

pub fn spawn(ctx: Arc<ApiContext>, bus: EventBus) -> JoinHandle<()> {
    let mut rx = bus.subscribe();
    tokio::spawn(async move {
        loop {
            let ev = match rx.recv().await {
                Ok(ev) => ev,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => break,
            };
            let NodeEvent::BlockConfirmed {
                is_send: true,
                block,
                ..
            } = ev
            else {
                continue;
            };
            let destination = block
                .get("link_as_account")
                .or_else(|| block.get("destination"))
                .and_then(|v| v.as_str())
                .and_then(|s| nano_core::PublicKey::decode_account(s).ok());
            let Some(destination) = destination else {
                continue;
            };
            let Some(wallets) = ctx.wallets.clone() else {
                break;
            };
            let Ok(Some(id)) = wallets.find_account(&destination) else {
                continue;
            };
            let c = ctx.clone();
            let _ = tokio::task::spawn_blocking(move || {
                if let Err(e) = nano_api::actions::receive_all(&c, id) {
                    tracing::debug!("auto-receive for wallet {}: {e}", id.encode_hex());
                }
            })
            .await;
        }
    })
}
