//! Which blocks get an election: the [`priority`] scheduler (each account's first
//! uncemented block, queued in balance [`bucket`]s with their own election limits, and
//! the head of a long uncemented chain as an optimistic election), the [`backlog`] walk
//! that feeds it, [`hinted`] elections for blocks with
//! enough cached votes, and `block_confirm` ([`manual`]).

pub(crate) mod backlog;
pub(crate) mod bucket;
pub(crate) mod hinted;
pub(crate) mod manual;
pub(crate) mod priority;
