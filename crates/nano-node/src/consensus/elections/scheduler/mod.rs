//! Which blocks get an election: the [`priority`] scheduler (each account's first
//! uncemented block), the [`backlog`] walk that feeds it, and `block_confirm`
//! ([`manual`]).

pub(crate) mod backlog;
pub(crate) mod manual;
pub(crate) mod priority;
