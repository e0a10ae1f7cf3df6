//! The node's persistent identity: the node-ID key that signs handshakes and telemetry,
//! kept as a hex private key in `node_id_private.key` in the data directory so peers see
//! the same node id across restarts.

use std::io;
use std::path::Path;

use nano_core::{KeyPair, RawKey};

/// File name the reference node uses for the node-ID private key.
pub const NODE_ID_FILE: &str = "node_id_private.key";

/// Loads the node-ID key from `data_dir`, creating (and saving) a random one on first use.
/// A file that does not hold a 64-digit hex key is an error rather than silently replaced,
/// so an operator never loses the identity by accident.
pub fn load_or_create_node_id(data_dir: &Path) -> io::Result<KeyPair> {
    let path = data_dir.join(NODE_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let raw = RawKey::decode_hex(text.trim()).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?;
            Ok(KeyPair::from_private(raw))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir)?;
            let key = KeyPair::random();
            let tmp = data_dir.join(format!("{NODE_ID_FILE}.tmp"));
            write_private(&tmp, key.private().encode_hex().as_bytes())?;
            std::fs::rename(&tmp, &path)?;
            Ok(key)
        }
        Err(e) => Err(e),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_then_reloads_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_node_id(dir.path()).unwrap();
        let b = load_or_create_node_id(dir.path()).unwrap();
        assert_eq!(a.public(), b.public());
        std::fs::write(dir.path().join(NODE_ID_FILE), "garbage").unwrap();
        assert!(load_or_create_node_id(dir.path()).is_err());
    }
}
