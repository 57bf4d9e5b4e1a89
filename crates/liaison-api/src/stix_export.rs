//! STIX 2.1 export of received bundles and of shares, with the TLP 2.0
//! marking made explicit (STANDARDS §2.5): every object carries the
//! bundle's TLP 2.0 marking-definition id in `object_marking_refs`, and the
//! official OASIS marking-definition objects of every TLP 2.0 label used
//! travel inside the bundle (consumers that only know TLP 1.0 would
//! otherwise see dangling references).
//!
//! `GET /api/inbox/{id}/stix` and `GET /api/shares/{id}/stix`; the TAXII
//! server ([`crate::taxii`]) serves the same marked objects.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use liaison_core::{Kind, Tlp};
use liaison_store::{Role, User};
use serde_json::{json, Map, Value};

use crate::auth::require_role;
use crate::shares::parse_id;
use crate::{blocking, ApiError, AppState};

/// The STIX 2.1 media type.
pub const STIX_MEDIA_TYPE: &str = "application/stix+json;version=2.1";

/// The OASIS property extension that carries TLP 2.0 labels.
const TLP2_EXTENSION: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// The official STIX 2.1 marking-definition object of a TLP 2.0 label,
/// exactly as published in oasis-open/cti-stix-common-objects
/// (`objects/marking-definition/`).
pub fn tlp2_marking_definition(tlp: Tlp) -> Value {
    json!({
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": tlp.stix_marking_id(),
        "created": "2022-10-01T00:00:00.000Z",
        "name": tlp.as_str(),
        "extensions": {
            TLP2_EXTENSION: {
                "extension_type": "property-extension",
                "tlp_2_0": tlp.stix_value(),
            }
        }
    })
}

/// The TLP 2.0 label whose official marking-definition id is `id` (TLP
/// 1.0 ids give `None`: those objects are kept as they are).
pub(crate) fn tlp2_of_id(id: &str) -> Option<Tlp> {
    Tlp::ALL.into_iter().find(|t| t.stix_marking_id() == id)
}

/// One STIX object made ready to serve: marked with `tlp`, and the TLP 2.0
/// labels it refers to (its own `object_marking_refs` and
/// `granular_markings`) added to `used`. Returns `None` for an official
/// TLP 2.0 marking-definition object (the caller serves the canonical body
/// instead) and for anything that is not a JSON object.
pub(crate) fn mark_object(mut object: Value, tlp: Tlp, used: &mut BTreeSet<Tlp>) -> Option<Value> {
    let map = object.as_object_mut()?;
    let ty = map.get("type").and_then(Value::as_str).unwrap_or_default();
    if ty == "marking-definition" {
        let id = map.get("id").and_then(Value::as_str).unwrap_or_default();
        if let Some(label) = tlp2_of_id(id) {
            used.insert(label);
            return None;
        }
        collect_refs(map, used);
        return Some(object);
    }
    add_marking_ref(map, tlp.stix_marking_id());
    collect_refs(map, used);
    used.insert(tlp);
    Some(object)
}

/// Append `marking` to `object_marking_refs` unless it is already there.
fn add_marking_ref(map: &mut Map<String, Value>, marking: &str) {
    match map.get_mut("object_marking_refs") {
        Some(Value::Array(refs)) => {
            if !refs.iter().any(|r| r.as_str() == Some(marking)) {
                refs.push(Value::String(marking.to_string()));
            }
        }
        _ => {
            map.insert("object_marking_refs".into(), json!([marking]));
        }
    }
}

/// The TLP 2.0 labels an object refers to.
fn collect_refs(map: &Map<String, Value>, used: &mut BTreeSet<Tlp>) {
    let object_refs = map
        .get("object_marking_refs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    let granular = map
        .get("granular_markings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|g| g.get("marking_ref").and_then(Value::as_str));
    used.extend(object_refs.chain(granular).filter_map(tlp2_of_id));
}

/// A STIX bundle as exported: its objects marked with `tlp`, the official
/// TLP 2.0 marking definitions first. The bundle id is kept (a bundle is
/// a transport wrapper; keeping it lets the export be traced back).
#[cfg(test)]
pub(crate) fn export_bundle(content: &[u8], tlp: Tlp) -> Result<Value, ApiError> {
    let mut out = Vec::new();
    export_to(|| Ok(content), tlp, &mut out)?;
    serde_json::from_slice(&out)
        .map_err(|e| ApiError::internal(format!("the export is not JSON: {e}")))
}

/// [`export_bundle`], streamed: the bundle is read twice from `open()`
/// (first to learn which TLP 2.0 definitions its objects use, which go
/// first), one object at a time, and written to `out` as it goes.
pub(crate) fn export_to<R: std::io::Read>(
    mut open: impl FnMut() -> Result<R, ApiError>,
    tlp: Tlp,
    out: &mut dyn std::io::Write,
) -> Result<(), ApiError> {
    let not_stix = |e: liaison_core::content::ContentError| {
        ApiError::unprocessable("not_stix", format!("the content is not a STIX bundle: {e}"))
    };
    let mut used = BTreeSet::from([tlp]);
    let header = liaison_core::content::each_stix_object(open()?, |o| {
        mark_object(o, tlp, &mut used);
    })
    .map_err(not_stix)?;
    if header.get("type").and_then(Value::as_str) != Some("bundle") {
        return Err(ApiError::unprocessable(
            "not_stix",
            "the content is not a STIX bundle (`type` is not \"bundle\")",
        ));
    }
    let failed = |e: std::io::Error| ApiError::internal(format!("writing the export: {e}"));
    let encode = |v: &Value| serde_json::to_vec(v).unwrap_or_default();
    out.write_all(b"{").map_err(failed)?;
    for (k, v) in &header {
        out.write_all(&encode(&Value::String(k.clone())))
            .and_then(|()| out.write_all(b":"))
            .and_then(|()| out.write_all(&encode(v)))
            .and_then(|()| out.write_all(b","))
            .map_err(failed)?;
    }
    out.write_all(b"\"objects\":[").map_err(failed)?;
    let mut first = true;
    for definition in used.iter().map(|t| tlp2_marking_definition(*t)) {
        if !first {
            out.write_all(b",").map_err(failed)?;
        }
        first = false;
        out.write_all(&encode(&definition)).map_err(failed)?;
    }
    let mut error: Option<std::io::Error> = None;
    let mut again = BTreeSet::new();
    liaison_core::content::each_stix_object(open()?, |o| {
        let Some(marked) = mark_object(o, tlp, &mut again) else {
            return;
        };
        if error.is_some() {
            return;
        }
        let sep: &[u8] = if first { b"" } else { b"," };
        first = false;
        if let Err(e) = out
            .write_all(sep)
            .and_then(|()| out.write_all(&encode(&marked)))
        {
            error = Some(e);
        }
    })
    .map_err(not_stix)?;
    if let Some(e) = error {
        return Err(failed(e));
    }
    out.write_all(b"]}").map_err(failed)
}

/// The export of content of `size` bytes read with `chunk(offset)` from
/// the store: built in memory when small, else in a spool file under `dir`
/// and streamed out, so a large bundle is never held whole.
fn stored_export(
    dir: &std::path::Path,
    size: u64,
    tlp: Tlp,
    chunk: impl Fn(u64) -> Result<Vec<u8>, liaison_store::StoreError>,
) -> Result<Response, ApiError> {
    let open = || Ok(liaison_store::ChunkReader::new(&chunk));
    let headers = [(header::CONTENT_TYPE, STIX_MEDIA_TYPE)];
    if size <= crate::body::SPOOL_ABOVE {
        let mut out = Vec::new();
        export_to(open, tlp, &mut out)?;
        return Ok((headers, out).into_response());
    }
    let file = crate::body::spool_file(dir)?;
    let mut w = std::io::BufWriter::new(&file);
    export_to(open, tlp, &mut w)?;
    std::io::Write::flush(&mut w)
        .map_err(|e| ApiError::internal(format!("writing the export: {e}")))?;
    drop(w);
    let len = file
        .metadata()
        .map_err(|e| ApiError::internal(format!("reading the export: {e}")))?
        .len();
    Ok((
        [
            (header::CONTENT_TYPE, STIX_MEDIA_TYPE.to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        crate::body::file_body(file, len),
    )
        .into_response())
}

fn not_stix(kind: Kind, what: &str) -> ApiError {
    ApiError::unprocessable(
        "not_stix",
        format!("{what} is {kind} content, not STIX: only STIX bundles export as STIX"),
    )
}

/// `GET /api/inbox/{id}/stix`: a received STIX bundle, marked.
pub(crate) async fn inbox(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_role(&user, &[Role::Analyst])?;
    let id = parse_id(&id)?;
    let st = state.clone();
    blocking(move || {
        let record = st
            .store
            .inbox_record(id)?
            .ok_or_else(|| ApiError::not_found(format!("no inbox bundle {id}")))?;
        if let Some(e) = crate::inbox::withdrawn(&record) {
            return Err(e);
        }
        if record.kind != Kind::Stix {
            return Err(not_stix(record.kind, &format!("inbox bundle {id}")));
        }
        stored_export(&st.hooks.spool_dir(), record.size, record.tlp, |offset| {
            st.store.inbox_content_chunk(id, offset, crate::body::CHUNK)
        })
    })
    .await
}

/// `GET /api/shares/{id}/stix`: the STIX content of a share (as sent once
/// released, as drafted while it awaits approval), marked.
pub(crate) async fn share(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_role(&user, &[Role::Analyst, Role::Approver, Role::Auditor])?;
    let id = parse_id(&id)?;
    let st = state.clone();
    blocking(move || {
        let record = st
            .store
            .share(id)?
            .ok_or_else(|| ApiError::not_found(format!("no share {id}")))?;
        if record.kind != Kind::Stix {
            return Err(not_stix(record.kind, &format!("share {id}")));
        }
        stored_export(&st.hooks.spool_dir(), record.size, record.tlp, |offset| {
            st.store.share_content_chunk(id, offset, crate::body::CHUNK)
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_objects_and_ships_the_official_definitions() {
        let bundle = json!({
            "type": "bundle",
            "id": "bundle--44af6c39-c09b-49c5-9de2-394224b04982",
            "objects": [
                {"type": "indicator", "id": "indicator--33fe3b22-0201-47cf-85d0-97c02164528d",
                 "object_marking_refs": ["marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"]},
                {"type": "ipv4-addr", "id": "ipv4-addr--33fe3b22-0201-47cf-85d0-97c02164528e",
                 "object_marking_refs": [Tlp::Amber.stix_marking_id()]},
                // A carried copy of an official definition is replaced by the canonical one.
                {"type": "marking-definition", "id": Tlp::Amber.stix_marking_id(), "name": "x"},
            ]
        });
        let out = export_bundle(bundle.to_string().as_bytes(), Tlp::Amber).unwrap();
        let objects = out["objects"].as_array().unwrap();
        assert_eq!(out["id"], bundle["id"]);
        assert_eq!(objects.len(), 4, "{out:#}");
        assert_eq!(objects[0], tlp2_marking_definition(Tlp::Amber));
        assert_eq!(objects[1], tlp2_marking_definition(Tlp::Red));
        assert_eq!(
            objects[2]["object_marking_refs"],
            json!([
                "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
                Tlp::Amber.stix_marking_id()
            ])
        );
        assert_eq!(
            objects[3]["object_marking_refs"],
            json!([Tlp::Amber.stix_marking_id()])
        );
    }

    #[test]
    fn official_ids_and_bodies() {
        let green = tlp2_marking_definition(Tlp::Green);
        assert_eq!(
            green["id"],
            "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
        );
        assert_eq!(green["name"], "TLP:GREEN");
        assert_eq!(green["extensions"][TLP2_EXTENSION]["tlp_2_0"], "green");
        let clear = tlp2_marking_definition(Tlp::Clear);
        assert_eq!(
            clear["id"],
            "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
        );
        assert_eq!(
            tlp2_marking_definition(Tlp::AmberStrict)["extensions"][TLP2_EXTENSION]["tlp_2_0"],
            "amber+strict"
        );
    }

    #[test]
    fn refuses_what_is_not_a_bundle() {
        assert_eq!(
            export_bundle(b"nope", Tlp::Clear).unwrap_err().code,
            "not_stix"
        );
        assert_eq!(
            export_bundle(br#"{"type":"indicator"}"#, Tlp::Clear)
                .unwrap_err()
                .code,
            "not_stix"
        );
        assert_eq!(
            export_bundle(br#"{"type":"bundle","objects":{}}"#, Tlp::Clear)
                .unwrap_err()
                .code,
            "not_stix"
        );
    }

    #[test]
    fn a_stored_bundle_streams_in_chunks_to_the_same_export() {
        let content = serde_json::to_vec(&json!({
            "type": "bundle",
            "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
            "objects": (0..300).map(|i| json!({
                "type": "indicator", "spec_version": "2.1",
                "id": format!("indicator--{:08}-0000-4000-8000-000000000000", i),
                "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
                "pattern": "[ipv4-addr:value = '10.0.0.1']", "pattern_type": "stix",
                "valid_from": "2026-01-01T00:00:00Z",
            })).collect::<Vec<_>>(),
        }))
        .unwrap();
        let whole = export_bundle(&content, Tlp::Amber).unwrap();
        // Read back 100 bytes at a time, as from the store.
        let chunk = |offset: u64| {
            let at = offset as usize;
            Ok(content[at..(at + 100).min(content.len())].to_vec())
        };
        let mut out = Vec::new();
        export_to(
            || Ok(liaison_store::ChunkReader::new(chunk)),
            Tlp::Amber,
            &mut out,
        )
        .unwrap();
        let streamed: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(streamed, whole);
        assert_eq!(whole["objects"].as_array().unwrap().len(), 301);
        assert_eq!(whole["objects"][0]["type"], "marking-definition");
    }
}
