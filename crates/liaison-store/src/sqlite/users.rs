//! The node row and local users.

use liaison_core::identity::NodeId;
use liaison_core::ledger::kinds;
use rusqlite::{params, Connection, Row};
use serde_json::json;
use uuid::Uuid;

use super::codec::{all, exists, first, now, parse, parse_ts, ts};
use super::ledger;
use crate::error::{conflict_as, StoreError};
use crate::model::{Event, Role, User};
use crate::store::Result;

const SELECT: &str = "SELECT id, name, role, created_at, revoked_at FROM users";

/// Record the node and create its `admin` user, with the ledger entry.
pub(crate) fn init_node(
    conn: &Connection,
    node_id: &NodeId,
    org: &str,
    admin_token_hash: &str,
) -> Result<User> {
    if exists(conn, "SELECT 1 FROM node", [])? {
        return Err(StoreError::Conflict(
            "this node is already initialized".into(),
        ));
    }
    conn.execute(
        "INSERT INTO node (id, node_id, org, initialized_at) VALUES (1, ?1, ?2, ?3)",
        params![node_id.to_string(), org, ts(now())],
    )?;
    let user = insert(conn, "admin", Role::Admin, admin_token_hash)?;
    ledger::append(
        conn,
        &Event {
            kind: kinds::NODE_INITIALIZED,
            actor: "node".into(),
            body: json!({ "node_id": node_id.to_string(), "org": org }),
        },
    )?;
    Ok(user)
}

/// Create a user, with the ledger entry (name and role only).
pub(crate) fn add(
    conn: &Connection,
    name: &str,
    role: Role,
    token_hash: &str,
    actor: &str,
) -> Result<User> {
    let user = insert(conn, name, role, token_hash)?;
    ledger::append(
        conn,
        &Event {
            kind: kinds::USER_ADDED,
            actor: actor.into(),
            body: json!({ "name": name, "role": role }),
        },
    )?;
    Ok(user)
}

fn insert(conn: &Connection, name: &str, role: Role, token_hash: &str) -> Result<User> {
    if exists(conn, "SELECT 1 FROM users WHERE name = ?1", [name])? {
        return Err(StoreError::Conflict(format!(
            "a user named `{name}` already exists"
        )));
    }
    let user = User {
        id: Uuid::new_v4().to_string(),
        name: name.to_string(),
        role,
        created_at: now(),
        revoked_at: None,
    };
    conn.prepare_cached(
        "INSERT INTO users (id, name, role, token_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        user.id,
        user.name,
        role.as_str(),
        token_hash,
        ts(user.created_at)
    ])
    .map_err(|e| conflict_as(e, || "that token is already held by another user".into()))?;
    Ok(user)
}

/// The user holding the token with this hash.
pub(crate) fn by_token_hash(conn: &Connection, token_hash: &str) -> Result<Option<User>> {
    first(
        conn,
        &format!("{SELECT} WHERE token_hash = ?1 AND revoked_at IS NULL"),
        [token_hash],
        row,
    )
}

/// Every user, oldest first.
pub(crate) fn list(conn: &Connection) -> Result<Vec<User>> {
    all(
        conn,
        &format!("{SELECT} ORDER BY created_at, name"),
        [],
        row,
    )
}

fn row(r: &Row<'_>) -> Result<User> {
    Ok(User {
        id: r.get("id")?,
        name: r.get("name")?,
        role: parse("user role", &r.get::<_, String>("role")?)?,
        created_at: parse_ts("user created_at", &r.get::<_, String>("created_at")?)?,
        revoked_at: super::codec::parse_opt_ts("user revoked_at", r.get("revoked_at")?)?,
    })
}

/// Revoke user `name`'s token, with the ledger entry. Not found, or a
/// conflict when it is already revoked or is the last active admin.
pub(crate) fn revoke(conn: &Connection, name: &str, actor: &str) -> Result<User> {
    let user = first(conn, &format!("{SELECT} WHERE name = ?1"), [name], row)?
        .ok_or_else(|| StoreError::NotFound(format!("no user named `{name}`")))?;
    if let Some(at) = user.revoked_at {
        return Err(StoreError::Conflict(format!(
            "user `{name}` was already revoked at {}",
            at.to_rfc3339()
        )));
    }
    if user.role == Role::Admin {
        let admins: i64 = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM users WHERE role = 'admin' AND revoked_at IS NULL",
            )?
            .query_row([], |r| r.get(0))?;
        if admins <= 1 {
            return Err(StoreError::Conflict(format!(
                "`{name}` is the last admin: add another admin before revoking it"
            )));
        }
    }
    let at = now();
    conn.execute(
        "UPDATE users SET revoked_at = ?2 WHERE id = ?1",
        params![user.id, ts(at)],
    )?;
    ledger::append(
        conn,
        &Event {
            kind: kinds::USER_REVOKED,
            actor: actor.into(),
            body: json!({ "user_id": user.id, "name": user.name, "role": user.role }),
        },
    )?;
    Ok(User {
        revoked_at: Some(at),
        ..user
    })
}
