//! Account epochs: the ledger version an account's blocks are at, as stored and printed.

/// Account epochs as stored and serialised (u8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum Epoch {
    Invalid = 0,
    Unspecified = 1,
    #[default]
    Epoch0 = 2,
    Epoch1 = 3,
    Epoch2 = 4,
}

impl Epoch {
    pub fn from_u8(v: u8) -> Option<Epoch> {
        Some(match v {
            0 => Epoch::Invalid,
            1 => Epoch::Unspecified,
            2 => Epoch::Epoch0,
            3 => Epoch::Epoch1,
            4 => Epoch::Epoch2,
            _ => return None,
        })
    }
    /// The name RPC prints (`epoch_0`, `epoch_1`, `epoch_2`).
    pub fn as_str(self) -> &'static str {
        match self {
            Epoch::Invalid => "invalid",
            Epoch::Unspecified => "unspecified",
            Epoch::Epoch0 => "epoch_0",
            Epoch::Epoch1 => "epoch_1",
            Epoch::Epoch2 => "epoch_2",
        }
    }
    /// The epoch that follows this one, for sequential upgrades.
    pub fn next(self) -> Option<Epoch> {
        match self {
            Epoch::Epoch0 => Some(Epoch::Epoch1),
            Epoch::Epoch1 => Some(Epoch::Epoch2),
            _ => None,
        }
    }
}
