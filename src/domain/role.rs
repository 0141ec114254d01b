//! Token roles and what each may do.

use serde::{Deserialize, Serialize};

/// A project token's role, or the instance admin.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything in its project; secrets are masked.
    Viewer,
    /// Also creates, changes and deletes pipelines, hooks, secrets and runs.
    Member,
    /// Also manages the project's tokens.
    Owner,
    /// The instance administrator: manages projects, and acts as owner in every project.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Owner => "owner",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "member" => Some(Role::Member),
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// True when a token of this role may do what `needed` allows.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

#[cfg(test)]
mod tests {
    use super::Role::*;

    #[test]
    fn roles_are_ordered() {
        assert!(Owner.allows(Member));
        assert!(Member.allows(Viewer));
        assert!(!Viewer.allows(Member));
        assert!(!Member.allows(Owner));
        assert!(Admin.allows(Owner));
        for r in [Viewer, Member, Owner, Admin] {
            assert_eq!(super::Role::parse(r.as_str()), Some(r));
        }
    }
}
