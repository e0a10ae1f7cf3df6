//! Per-network constants: header magic, default ports, genesis block, epoch links and
//! signers, work thresholds and protocol versions, for live, beta, test and dev.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use crate::amount::{Amount, NANO_RATIO};
use crate::blocks::Block;
use crate::numbers::{BlockHash, Link, PublicKey};
use crate::work::WorkThresholds;

/// Kept at its old path; the type lives in [`crate::epoch`].
pub use crate::epoch::Epoch;

/// Protocol version this node sends as version_max and version_using.
pub const PROTOCOL_VERSION: u8 = 0x15;
/// Oldest protocol version whose peers are accepted.
pub const PROTOCOL_VERSION_MIN: u8 = 0x14;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Network {
    Live,
    Beta,
    Dev,
    Test,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown network {0:?} (expected live, beta, dev or test)")]
pub struct UnknownNetwork(pub String);

impl FromStr for Network {
    type Err = UnknownNetwork;
    fn from_str(s: &str) -> Result<Self, UnknownNetwork> {
        Ok(match s {
            "live" => Network::Live,
            "beta" => Network::Beta,
            "dev" => Network::Dev,
            "test" => Network::Test,
            _ => return Err(UnknownNetwork(s.to_string())),
        })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Network {
    pub const ALL: [Network; 4] = [Network::Live, Network::Beta, Network::Dev, Network::Test];

    pub fn as_str(self) -> &'static str {
        match self {
            Network::Live => "live",
            Network::Beta => "beta",
            Network::Dev => "dev",
            Network::Test => "test",
        }
    }
    /// The two header bytes: `'R'` then the network letter.
    pub fn magic(self) -> [u8; 2] {
        match self {
            Network::Live => *b"RC",
            Network::Beta => *b"RB",
            Network::Dev => *b"RA",
            Network::Test => *b"RX",
        }
    }
    pub fn from_magic(m: [u8; 2]) -> Option<Network> {
        Network::ALL.into_iter().find(|n| n.magic() == m)
    }
    /// The parameters of this network, built once.
    pub fn params(self) -> &'static NetworkParams {
        static LIVE: OnceLock<NetworkParams> = OnceLock::new();
        static BETA: OnceLock<NetworkParams> = OnceLock::new();
        static DEV: OnceLock<NetworkParams> = OnceLock::new();
        static TEST: OnceLock<NetworkParams> = OnceLock::new();
        let cell = match self {
            Network::Live => &LIVE,
            Network::Beta => &BETA,
            Network::Dev => &DEV,
            Network::Test => &TEST,
        };
        cell.get_or_init(|| NetworkParams::build(self))
    }
}

fn link_text(s: &[u8]) -> Link {
    let mut b = [0u8; 32];
    b[..s.len()].copy_from_slice(s);
    Link(b)
}

/// Everything that differs between networks.
#[derive(Debug, Clone)]
pub struct NetworkParams {
    pub network: Network,
    pub genesis: Block,
    pub genesis_hash: BlockHash,
    pub genesis_account: PublicKey,
    pub genesis_amount: Amount,
    pub epoch_1_link: Link,
    pub epoch_2_link: Link,
    pub epoch_1_signer: PublicKey,
    pub epoch_2_signer: PublicKey,
    pub work: WorkThresholds,
    pub default_peering_port: u16,
    pub default_rpc_port: u16,
    pub default_ipc_port: u16,
    pub default_websocket_port: u16,
    /// Host names contacted at start (`peering.nano.org` on live).
    pub default_peer_host: Option<&'static str>,
    pub keepalive_period_ms: u64,
    pub idle_timeout_ms: u64,
    pub telemetry_interval_ms: u64,
    pub telemetry_cache_cutoff_ms: u64,
    pub max_peers_per_ip: usize,
    pub max_peers_per_subnetwork: usize,
    pub allow_local_peers: bool,
    pub max_weight_samples: usize,
    pub online_weight_minimum: Amount,
    pub preconfigured_representatives: Vec<PublicKey>,
}

const LIVE_GENESIS: &str = r#"{"type":"open","source":"E89208DD038FBB269987689621D52292AE9C35941A7484756ECCED92A65093BA","representative":"xrb_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3","account":"xrb_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3","work":"62f05417dd3fb691","signature":"9F0C933C8ADE004D808EA1985FA746A7E95BA2A38F867640F53EC8F180BDFE9E2C1268DEAD7C2664F356E37ABA362BC58E46DBA03E523A7B5A19E4B6EB12BB02"}"#;
const BETA_GENESIS: &str = r#"{"type":"open","source":"259A438A8F9F9226130C84D902C237AF3E57C0981C7D709C288046B110D8C8AC","representative":"nano_1betag7az9wk6rbis38s1d35hdsycz1bi95xg4g4j148p6afjk7embcurda4","account":"nano_1betag7az9wk6rbis38s1d35hdsycz1bi95xg4g4j148p6afjk7embcurda4","work":"e87a3ce39b43b84c","signature":"BC588273AC689726D129D3137653FB319B6EE6DB178F97421D11D075B46FD52B6748223C8FF4179399D35CB1A8DF36F759325BD2D3D4504904321FAFB71D7602"}"#;
const DEV_GENESIS: &str = r#"{"type":"open","source":"B0311EA55708D6A53C75CDBF88300259C6D018522FE3D4D0A242E431F9E8B6D0","representative":"xrb_3e3j5tkog48pnny9dmfzj1r16pg8t1e76dz5tmac6iq689wyjfpiij4txtdo","account":"xrb_3e3j5tkog48pnny9dmfzj1r16pg8t1e76dz5tmac6iq689wyjfpiij4txtdo","work":"7b42a00ee91d5810","signature":"ECDA914373A2F0CA1296475BAEE40500A7F0A7AD72A5A80C81D7FAB7F6C802B2CC7DB50F5DD0FB25B2EF11761FA7344A158DD5A700B21BD47DE5BD0F63153A02"}"#;
const TEST_GENESIS: &str = r#"{"type":"open","source":"45C6FF9D1706D61F0821327752671BDA9F9ED2DA40326B01935AB566FB9E08ED","representative":"nano_1jg8zygjg3pp5w644emqcbmjqpnzmubfni3kfe1s8pooeuxsw49fdq1mco9j","account":"nano_1jg8zygjg3pp5w644emqcbmjqpnzmubfni3kfe1s8pooeuxsw49fdq1mco9j","work":"bc1ef279c1a34eb1","signature":"15049467CAEE3EC768639E8E35792399B6078DA763DA4EBA8ECAD33B0EDC4AF2E7403893A5A602EB89B978DABEF1D6606BB00F3C0EE11449232B143B6E07170E"}"#;

/// The dev network's genesis private key. It is public knowledge; tests use it as the
/// voting representative that holds all dev funds.
pub const DEV_GENESIS_PRIVATE_KEY: &str =
    "34F0A37AAD20F4A260F0A5B3CB3D7FB50673212263E58A380BC10474BB039CE4";

const LIVE_REPS: [&str; 8] = [
    "A30E0A32ED41C8607AA9212843392E853FCBCB4E7CB194E35C94F07F91DE59EF",
    "67556D31DDFC2A440BF6147501449B4CB9572278D034EE686A6BEE29851681DF",
    "5C2FBB148E006A8E8BA7A75DD86C9FE00C83F5FFDBFD76EAA09531071436B6AF",
    "AE7AC63990DAAAF2A69BF11C913B928844BF5012355456F2F164166464024B29",
    "BD6267D6ECD8038327D2BCC0850BDF8F56EC0414912207E81BCF90DFAC8A4AAA",
    "2399A083C600AA0572F5E36247D978FCFC840405F8D4B6D33161C0066A55F431",
    "2298FAB7C61058E77EA554CB93EDEEDA0692CBFCC540AB213B2836B29029E23A",
    "3FE80B4BC842E82C1C18ABFEEC47EA989E63953BC82AC411F304D13833D52A56",
];

fn hex_key(s: &str) -> PublicKey {
    PublicKey::decode_hex(s).expect("built-in key constant")
}

impl NetworkParams {
    fn build(network: Network) -> NetworkParams {
        let genesis_json = match network {
            Network::Live => LIVE_GENESIS,
            Network::Beta => BETA_GENESIS,
            Network::Dev => DEV_GENESIS,
            Network::Test => TEST_GENESIS,
        };
        let genesis =
            Block::from_json(&serde_json::from_str(genesis_json).expect("built-in genesis JSON"))
                .expect("built-in genesis block");
        let genesis_account = genesis.account_field().expect("open block has an account");
        let genesis_hash = genesis.hash();
        let epoch_2_signer = match network {
            Network::Live => {
                hex_key("DD24A9200D4BF8247981E4AC63DBDE38FD2319386970A26D02ECC98C79975DB1")
            }
            _ => genesis_account,
        };
        let (ports, peer): ([u16; 4], Option<&'static str>) = match network {
            Network::Live => ([7075, 7076, 7077, 7078], Some("peering.nano.org")),
            Network::Beta => ([54000, 55000, 56000, 57000], Some("peering-beta.nano.org")),
            Network::Dev => ([44000, 45000, 46000, 47000], None),
            Network::Test => ([17075, 17076, 17077, 17078], Some("peering-test.nano.org")),
        };
        let dev = network == Network::Dev;
        let (per_ip, per_subnet) = match network {
            Network::Live | Network::Test => (4, 16),
            Network::Beta | Network::Dev => (256, 256),
        };
        let reps = match network {
            Network::Live => LIVE_REPS.iter().map(|s| hex_key(s)).collect(),
            Network::Beta => {
                vec![hex_key(
                    "2D8D46C1A3D5AD0428C3E19639CE739CE739CE739CE739CE739CE739CE739CE7",
                )]
            }
            Network::Dev | Network::Test => vec![genesis_account],
        };
        NetworkParams {
            network,
            genesis_hash,
            genesis_account,
            genesis,
            genesis_amount: Amount::MAX,
            epoch_1_link: link_text(b"epoch v1 block"),
            epoch_2_link: link_text(b"epoch v2 block"),
            epoch_1_signer: genesis_account,
            epoch_2_signer,
            work: match network {
                Network::Live | Network::Test => WorkThresholds::LIVE,
                Network::Beta => WorkThresholds::BETA,
                Network::Dev => WorkThresholds::DEV,
            },
            default_peering_port: ports[0],
            default_rpc_port: ports[1],
            default_ipc_port: ports[2],
            default_websocket_port: ports[3],
            default_peer_host: peer,
            keepalive_period_ms: if dev { 1_000 } else { 15_000 },
            idle_timeout_ms: if dev { 15_000 } else { 120_000 },
            telemetry_interval_ms: if dev { 500 } else { 60_000 },
            telemetry_cache_cutoff_ms: if dev { 2_000 } else { 130_000 },
            max_peers_per_ip: per_ip,
            max_peers_per_subnetwork: per_subnet,
            allow_local_peers: matches!(network, Network::Beta | Network::Dev),
            max_weight_samples: match network {
                Network::Live | Network::Test => 4032,
                Network::Beta | Network::Dev => 288,
            },
            online_weight_minimum: Amount(60_000_000 * NANO_RATIO),
            preconfigured_representatives: reps,
        }
    }

    /// The epoch a link announces, if it is one of this network's epoch links.
    pub fn epoch_of_link(&self, link: &Link) -> Option<crate::network::Epoch> {
        if *link == self.epoch_1_link {
            Some(Epoch::Epoch1)
        } else if *link == self.epoch_2_link {
            Some(Epoch::Epoch2)
        } else {
            None
        }
    }

    /// Who must sign an epoch block of `epoch`.
    pub fn epoch_signer(&self, epoch: Epoch) -> Option<PublicKey> {
        match epoch {
            Epoch::Epoch1 => Some(self.epoch_1_signer),
            Epoch::Epoch2 => Some(self.epoch_2_signer),
            _ => None,
        }
    }

    pub fn epoch_link(&self, epoch: Epoch) -> Option<Link> {
        match epoch {
            Epoch::Epoch1 => Some(self.epoch_1_link),
            Epoch::Epoch2 => Some(self.epoch_2_link),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyPair, RawKey};
    use crate::work::work_value;

    #[test]
    fn genesis_hashes_and_signatures() {
        let expect = [
            (
                Network::Live,
                "991CF190094C00F0B68E2E5F75F6BEE95A2E0BD93CEAA4A6734DB9F19B728948",
            ),
            (
                Network::Beta,
                "E1227CF974C1455A8B630433D94F3DDBF495EEAC9ADD2481A4A1D90A0D00F488",
            ),
            (
                Network::Dev,
                "04270D7F11C4B2B472F2854C5A59F2A7E84226CE9ED799DE75744BD7D85FC9D9",
            ),
            (
                Network::Test,
                "B1D60C0B886B57401EF5A1DAA04340E53726AA6F4D706C085706F31BBD100CEE",
            ),
        ];
        for (n, hash) in expect {
            let p = n.params();
            assert_eq!(p.genesis_hash.encode_hex(), hash, "{n}");
            assert!(
                p.genesis.verify_signature(&p.genesis_account),
                "{n} signature"
            );
        }
    }

    #[test]
    fn genesis_work_where_it_meets_threshold() {
        let live = Network::Live.params();
        let v = work_value(&live.genesis.root(), live.genesis.work());
        assert_eq!(v, 0xfffffff4000d3dac);
        assert!(v >= live.work.epoch_1);
        let dev = Network::Dev.params();
        let v = work_value(&dev.genesis.root(), dev.genesis.work());
        assert_eq!(v, 0xff1475ba5c832b89);
        assert!(v >= dev.work.epoch_1);
        // Beta and test genesis work is below threshold: genesis must never be validated.
        for n in [Network::Beta, Network::Test] {
            let p = n.params();
            assert!(work_value(&p.genesis.root(), p.genesis.work()) < p.work.epoch_1);
        }
    }

    #[test]
    fn dev_genesis_resigned_byte_for_byte() {
        let p = Network::Dev.params();
        let kp = KeyPair::from_private(RawKey::decode_hex(DEV_GENESIS_PRIVATE_KEY).unwrap());
        assert_eq!(kp.public(), p.genesis_account);
        let mut b = p.genesis.clone();
        b.sign(&kp);
        assert_eq!(b.to_bytes(), p.genesis.to_bytes());
        assert_eq!(b.signature(), p.genesis.signature());
    }

    #[test]
    fn magic_and_names() {
        assert_eq!(Network::Live.magic(), [0x52, 0x43]);
        assert_eq!(Network::from_magic(*b"RA"), Some(Network::Dev));
        assert_eq!(Network::from_magic(*b"RZ"), None);
        assert!("mainnet".parse::<Network>().is_err());
        assert_eq!(
            Network::Live.params().epoch_2_signer.encode_account(),
            "nano_3qb6o6i1tkzr6jwr5s7eehfxwg9x6eemitdinbpi7u8bjjwsgqfj4wzser3x"
        );
        assert_eq!(
            Network::Live
                .params()
                .epoch_2_link
                .as_account()
                .encode_account(),
            "nano_1sdifxjpia5p8ai86u5hefoi1111111111111111111111111111ngspq7ps"
        );
    }
}
