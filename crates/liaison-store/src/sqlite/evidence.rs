//! What evidence exports read beyond the other modules: the signed
//! manifest of an outbound share, as sealed.

use rusqlite::Connection;
use uuid::Uuid;

use super::codec::first;
use crate::store::Result;

/// The manifest bytes and DSSE envelope (JSON) of share `id`.
pub(crate) fn share_signed(conn: &Connection, id: Uuid) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    first(
        conn,
        "SELECT manifest, dsse FROM shares WHERE id = ?1",
        [id.to_string()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use crate::{SqliteStore, Store};

    #[test]
    fn an_unknown_share_has_no_signed_manifest() {
        let store = SqliteStore::open_in_memory().unwrap();
        assert_eq!(store.share_signed(Uuid::from_u128(1)).unwrap(), None);
    }
}
