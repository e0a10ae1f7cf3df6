//! Which blocks get an election: the backlog scan of accounts with uncemented blocks
//! ([`backlog`]) and `block_confirm` ([`manual`]).

pub(crate) mod backlog;
pub(crate) mod manual;
