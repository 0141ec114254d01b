//! Creating projects and tokens: shared by the API and the CLI.

use secrecy::{ExposeSecret, SecretString};

use crate::crypto::{generate_token, hash_token, last4};
use crate::domain::ids::{new_id, IdKind};
use crate::domain::role::Role;
use crate::domain::time::now_ms;
use crate::domain::{check_name, FieldError};
use crate::store::{ProjectRow, Store, StoreError, TokenRow};

/// Why a project or token could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("{}: {}", .0.field, .0.problem)]
    Invalid(FieldError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates a project.
pub async fn create_project(store: &dyn Store, name: &str) -> Result<ProjectRow, CreateError> {
    check_name("name", name).map_err(CreateError::Invalid)?;
    let row = ProjectRow {
        id: new_id(IdKind::Project),
        name: name.trim().to_string(),
        created_at: now_ms(),
    };
    store.insert_project(&row).await?;
    Ok(row)
}

/// Creates a token. `project_id` is `None` exactly when `role` is admin. The plain token is
/// returned once; only its hash is stored.
pub async fn create_token(
    store: &dyn Store,
    project_id: Option<&str>,
    role: Role,
    name: &str,
) -> Result<(TokenRow, SecretString), CreateError> {
    check_name("name", name).map_err(CreateError::Invalid)?;
    if (role == Role::Admin) != project_id.is_none() {
        return Err(CreateError::Invalid(FieldError::new(
            "role",
            "admin tokens belong to no project; others to one",
        )));
    }
    let token = generate_token();
    let row = TokenRow {
        id: new_id(IdKind::Token),
        project_id: project_id.map(str::to_string),
        name: name.trim().to_string(),
        role: role.as_str().to_string(),
        token_hash: hash_token(token.expose_secret()),
        last4: last4(token.expose_secret()),
        created_at: now_ms(),
    };
    store.insert_token(&row).await?;
    Ok((row, token))
}
