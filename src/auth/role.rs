//! The admin roles (README "People and tokens"): the vocabulary the
//! store maps to its `role` columns and every face checks against.

use serde::{Deserialize, Serialize};

/// Admin roles, ordered: a call needs at least the role it names.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Upload workbooks and deploy them to staging.
    Operator,
    /// Also approve the version on staging and use the QA tools.
    Qa,
    /// Also publish, roll back, and manage people and tokens.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Qa => "qa",
            Role::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        match raw {
            "operator" => Some(Role::Operator),
            "qa" => Some(Role::Qa),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
