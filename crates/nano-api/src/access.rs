//! Access control for IPC 2.0 and `/api/v2`, from `config-access.toml` in the data
//! directory: permissions, roles (named bundles of permissions), users (keyed by the
//! credential string a client sends) and the default user (no credentials). The file is
//! read at start and re-read on SIGHUP; a file that does not load on reload leaves the
//! previous rules in force.
//!
//! Effective permissions of a user: its roles' permissions, then the default user's
//! permissions unless `bare = true`, then its own `allow`, minus its own `deny`. The
//! default user starts with `api_account_weight`; a `[[user]]` without `id` (which must
//! precede the other users) amends it, and the other users inherit the amended set — the
//! behaviour the reference documents (its code inherits only the built-in set).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::Deserialize;

/// The reference permission names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    Unrestricted,
    ApiAccountWeight,
    ApiServiceRegister,
    ApiServiceStop,
    ApiTopicServiceStop,
    ApiTopicConfirmation,
    AccountQuery,
    EpochUpgrade,
    Service,
    Wallet,
    WalletRead,
    WalletWrite,
    WalletSeedChange,
}

const NAMES: &[(&str, Permission)] = &[
    ("unrestricted", Permission::Unrestricted),
    ("api_account_weight", Permission::ApiAccountWeight),
    ("api_service_register", Permission::ApiServiceRegister),
    ("api_service_stop", Permission::ApiServiceStop),
    ("api_topic_service_stop", Permission::ApiTopicServiceStop),
    ("api_topic_confirmation", Permission::ApiTopicConfirmation),
    ("account_query", Permission::AccountQuery),
    ("epoch_upgrade", Permission::EpochUpgrade),
    ("service", Permission::Service),
    ("wallet", Permission::Wallet),
    ("wallet_read", Permission::WalletRead),
    ("wallet_write", Permission::WalletWrite),
    ("wallet_seed_change", Permission::WalletSeedChange),
];

impl Permission {
    /// `None` for unknown names (the reference's `invalid`), which the loader drops.
    pub fn from_name(s: &str) -> Option<Permission> {
        NAMES.iter().find(|(n, _)| *n == s).map(|(_, p)| *p)
    }
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, p)| *p == self)
            .map(|(n, _)| *n)
            .unwrap_or("invalid")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config-access.toml: {0}")]
    Invalid(String),
}

/// One loaded rule set; immutable, swapped whole on reload.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessConfig {
    users: HashMap<String, HashSet<Permission>>,
}

#[derive(Deserialize)]
struct FileRole {
    id: Option<String>,
    #[serde(default)]
    allow: String,
    deny: Option<toml::Value>,
}

#[derive(Deserialize)]
struct FileUser {
    id: Option<String>,
    #[serde(default)]
    roles: String,
    #[serde(default)]
    allow: String,
    #[serde(default)]
    deny: String,
    bare: Option<toml::Value>,
}

#[derive(Deserialize, Default)]
struct File {
    #[serde(default)]
    role: Vec<FileRole>,
    #[serde(default)]
    user: Vec<FileUser>,
}

fn names(list: &str) -> impl Iterator<Item = Permission> + '_ {
    list.split(',')
        .filter_map(|s| Permission::from_name(s.trim()))
}

impl Default for AccessConfig {
    /// The rules without a file: the default user may call `AccountWeight` (and `IsAlive`,
    /// which needs no permission).
    fn default() -> Self {
        let mut users = HashMap::new();
        users.insert(String::new(), HashSet::from([Permission::ApiAccountWeight]));
        AccessConfig { users }
    }
}

impl AccessConfig {
    /// Parses the text of `config-access.toml`.
    pub fn parse(text: &str) -> Result<AccessConfig, AccessError> {
        let file: File =
            toml::from_str(text).map_err(|e| AccessError::Invalid(e.message().to_string()))?;
        let mut roles: HashMap<String, HashSet<Permission>> = HashMap::new();
        for r in &file.role {
            let id = r.id.clone().unwrap_or_default();
            if r.deny.is_some() {
                return Err(AccessError::Invalid(format!(
                    "role {id:?}: a role may not have a deny list"
                )));
            }
            roles.entry(id).or_default().extend(names(&r.allow));
        }
        let mut default_perms: HashSet<Permission> = HashSet::from([Permission::ApiAccountWeight]);
        let mut users: HashMap<String, HashSet<Permission>> = HashMap::new();
        for u in &file.user {
            let id = u.id.clone().unwrap_or_default();
            if id.is_empty() && !users.is_empty() {
                return Err(AccessError::Invalid(
                    "Changes to the default user must appear before other users in the access config file".into(),
                ));
            }
            let bare = match &u.bare {
                None => false,
                Some(toml::Value::Boolean(b)) => *b,
                Some(toml::Value::String(s)) => s == "true",
                Some(_) => {
                    return Err(AccessError::Invalid(format!(
                        "user {id:?}: bare must be true or false"
                    )))
                }
            };
            let mut perms = HashSet::new();
            for role in u.roles.split(',').map(str::trim).filter(|r| !r.is_empty()) {
                match roles.get(role) {
                    Some(p) => perms.extend(p.iter().copied()),
                    None => return Err(AccessError::Invalid(format!("Unknown role: {role}"))),
                }
            }
            if !bare {
                perms.extend(default_perms.iter().copied());
            }
            perms.extend(names(&u.allow));
            for p in names(&u.deny) {
                perms.remove(&p);
            }
            if id.is_empty() {
                default_perms = perms.clone();
            }
            users.insert(id, perms);
        }
        users.entry(String::new()).or_insert(default_perms);
        Ok(AccessConfig { users })
    }

    /// Reads `path`; a missing file gives the built-in defaults.
    pub fn load(path: &Path) -> Result<AccessConfig, AccessError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(AccessError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Whether `credentials` (empty = the default user) hold `p`. Unknown credentials hold
    /// nothing.
    pub fn has_access(&self, credentials: &str, p: Permission) -> bool {
        self.users
            .get(credentials)
            .is_some_and(|s| s.contains(&Permission::Unrestricted) || s.contains(&p))
    }

    /// Whether the user holds at least one of `ps` (an empty list needs nothing).
    pub fn has_access_to_oneof(&self, credentials: &str, ps: &[Permission]) -> bool {
        if ps.is_empty() {
            return true;
        }
        // The user's set looked up once for all of `ps`.
        self.users.get(credentials).is_some_and(|s| {
            s.contains(&Permission::Unrestricted) || ps.iter().any(|p| s.contains(p))
        })
    }

    /// Whether the user holds every one of `ps`.
    pub fn has_access_to_all(&self, credentials: &str, ps: &[Permission]) -> bool {
        self.users.contains_key(credentials) && ps.iter().all(|p| self.has_access(credentials, *p))
    }
}

/// The live rules: shared by every IPC session and the HTTP gateway, swapped atomically by
/// [`AccessControl::reload`] so a connected client sees new rules on its next request.
#[derive(Debug)]
pub struct AccessControl {
    path: Option<PathBuf>,
    current: RwLock<Arc<AccessConfig>>,
}

impl AccessControl {
    /// Fixed rules with no file behind them (`reload` keeps them).
    pub fn fixed(cfg: AccessConfig) -> AccessControl {
        AccessControl {
            path: None,
            current: RwLock::new(Arc::new(cfg)),
        }
    }

    /// Loads `config-access.toml` from `data_dir`; an invalid file is an error (the node
    /// refuses to start, as the reference does).
    pub fn load(data_dir: &Path) -> Result<AccessControl, AccessError> {
        let path = data_dir.join("config-access.toml");
        let cfg = AccessConfig::load(&path)?;
        Ok(AccessControl {
            path: Some(path),
            current: RwLock::new(Arc::new(cfg)),
        })
    }

    /// The rules in force now.
    pub fn current(&self) -> Arc<AccessConfig> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Re-reads the file. On error the old rules stay and the error is returned (and
    /// logged by the SIGHUP task).
    pub fn reload(&self) -> Result<(), AccessError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let cfg = AccessConfig::load(path)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(cfg);
        Ok(())
    }

    /// Read under the lock, without taking a reference to the rules: every `/api/v2`
    /// request asks, and a reference count is one more write to a line all threads share.
    pub fn has_access_to_oneof(&self, credentials: &str, ps: &[Permission]) -> bool {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .has_access_to_oneof(credentials, ps)
    }
}

/// Spawns a task that reloads `access` on every SIGHUP until the runtime stops. Must be
/// called inside a Tokio runtime.
#[cfg(unix)]
pub fn spawn_sighup_reloader(access: Arc<AccessControl>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match access.reload() {
                Ok(()) => tracing::info!("config-access.toml reloaded"),
                Err(e) => tracing::error!(
                    "config-access.toml not reloaded, keeping the previous rules: {e}"
                ),
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Permission::*;

    #[test]
    fn reference_example() {
        let c = AccessConfig::parse(
            r#"
[[role]]
id = "service_admin"
allow = "api_service_register, api_service_stop"

[[user]]
id = "user-2bb818ee"
roles = "service_admin"
allow = "wallet_seed_change, api_topic_confirmation, no_such_permission"
deny = "api_account_weight"

[[user]]
id = "history-viewer"
allow = "account_query"
bare = true
"#,
        )
        .unwrap();
        assert!(c.has_access("", ApiAccountWeight));
        assert!(!c.has_access("", ApiServiceStop));
        let u = "user-2bb818ee";
        assert!(c.has_access(u, ApiServiceRegister) && c.has_access(u, ApiServiceStop));
        assert!(c.has_access(u, WalletSeedChange) && !c.has_access(u, ApiAccountWeight));
        assert!(c.has_access("history-viewer", AccountQuery));
        assert!(!c.has_access("history-viewer", ApiAccountWeight));
        assert!(!c.has_access("nobody", ApiAccountWeight));
        assert!(c.has_access_to_oneof("history-viewer", &[ApiAccountWeight, AccountQuery]));
        assert!(!c.has_access_to_all("history-viewer", &[ApiAccountWeight, AccountQuery]));
    }

    #[test]
    fn errors_and_default_user() {
        let err = |text: &str| AccessConfig::parse(text).unwrap_err().to_string();
        assert_eq!(
            err("[[role]]\nid='r'\ndeny='wallet'\n"),
            "config-access.toml: role \"r\": a role may not have a deny list"
        );
        assert_eq!(
            err("[[user]]\nid='a'\nroles='nope'\n"),
            "config-access.toml: Unknown role: nope"
        );
        assert_eq!(
            err("[[user]]\nid='a'\n[[user]]\nallow='wallet'\n"),
            "config-access.toml: Changes to the default user must appear before other users in the access config file"
        );
        assert_eq!(
            err("[[user]]\nid='a'\nbare=3\n"),
            "config-access.toml: user \"a\": bare must be true or false"
        );
        assert!(matches!(
            AccessConfig::parse("[[user]\n"),
            Err(AccessError::Invalid(_))
        ));
        let c = AccessConfig::parse(
            "[[user]]\nallow='api_service_stop'\n[[user]]\nid='x'\n[[user]]\nid='root'\nallow='unrestricted'\nbare=true\n",
        )
        .unwrap();
        assert!(c.has_access("", ApiServiceStop) && c.has_access("x", ApiServiceStop));
        assert!(c.has_access("root", WalletWrite));
        assert_eq!(
            Permission::from_name("wallet_read").unwrap().name(),
            "wallet_read"
        );
    }
}
