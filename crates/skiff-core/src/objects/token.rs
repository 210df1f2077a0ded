//! API tokens: who may do what, in which environments.
//!
//! A token's secret is shown once, when it is created; the state keeps only its SHA-256, so the
//! log, snapshots and watch history never hold a usable credential. The server hashes what a
//! request presents and compares; whether the token then allows the request is decided here,
//! as plain logic ([`Token::allows`]).

use serde::{Deserialize, Serialize};

use super::{Name, Timestamp};

/// What a token may do. Each role includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read objects of its environments.
    Read,
    /// Read, and apply or delete apps (and their secrets and configs) in its environments.
    Deploy,
    /// Everything: environments, tokens, nodes, cluster membership.
    Admin,
}

impl Role {
    /// The role's name as the API and CLI spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Deploy => "deploy",
            Role::Admin => "admin",
        }
    }
}

/// Which environments a token reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TokenScope {
    /// Every environment, present and future, and cluster-wide objects.
    All,
    /// Only these environments; cluster-wide objects (nodes, tokens, membership) stay out of
    /// reach whatever the role.
    Envs(Vec<Name>),
}

/// An API token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    /// Its id, as in `/tokens/{id}`; the public half of the token string.
    pub id: Name,
    /// What it may do.
    pub role: Role,
    /// Where.
    pub scope: TokenScope,
    /// SHA-256 of the secret half, lowercase hex.
    pub secret_sha256: String,
    /// What it is for, for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// When it was created.
    pub created_at: Timestamp,
}

impl Token {
    /// Whether this token may act with `role` on `env` (`None`: a cluster-wide object).
    pub fn allows(&self, role: Role, env: Option<&Name>) -> bool {
        if self.role < role {
            return false;
        }
        match (&self.scope, env) {
            (TokenScope::All, _) => true,
            (TokenScope::Envs(envs), Some(env)) => envs.contains(env),
            (TokenScope::Envs(_), None) => false,
        }
    }

    /// Whether this token may see `env` at all (to filter listings).
    pub fn sees(&self, env: &Name) -> bool {
        self.allows(Role::Read, Some(env))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(role: Role, scope: TokenScope) -> Token {
        Token {
            id: Name::new("t1").unwrap(),
            role,
            scope,
            secret_sha256: "00".repeat(32),
            description: String::new(),
            created_at: Timestamp(0),
        }
    }

    fn name(n: &str) -> Name {
        Name::new(n).unwrap()
    }

    #[test]
    fn roles_include_the_ones_below() {
        let admin = token(Role::Admin, TokenScope::All);
        let deploy = token(Role::Deploy, TokenScope::All);
        let read = token(Role::Read, TokenScope::All);
        let dev = name("dev");
        for role in [Role::Read, Role::Deploy, Role::Admin] {
            assert!(admin.allows(role, Some(&dev)));
        }
        assert!(deploy.allows(Role::Deploy, Some(&dev)));
        assert!(!deploy.allows(Role::Admin, Some(&dev)));
        assert!(read.allows(Role::Read, Some(&dev)));
        assert!(!read.allows(Role::Deploy, Some(&dev)));
    }

    #[test]
    fn a_dev_token_cannot_touch_prod_nor_cluster_objects() {
        let dev_admin = token(Role::Admin, TokenScope::Envs(vec![name("dev")]));
        assert!(dev_admin.allows(Role::Admin, Some(&name("dev"))));
        assert!(!dev_admin.allows(Role::Read, Some(&name("prod"))));
        assert!(!dev_admin.allows(Role::Read, None));
        assert!(dev_admin.sees(&name("dev")));
        assert!(!dev_admin.sees(&name("prod")));
        let all_read = token(Role::Read, TokenScope::All);
        assert!(all_read.allows(Role::Read, None));
        assert!(!all_read.allows(Role::Deploy, None));
    }
}
