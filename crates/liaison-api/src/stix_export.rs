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
pub fn export_bundle(content: &[u8], tlp: Tlp) -> Result<Value, ApiError> {
    let bundle: Value = serde_json::from_slice(content).map_err(|e| {
        ApiError::unprocessable("not_stix", format!("the content is not JSON: {e}"))
    })?;
    let Value::Object(mut top) = bundle else {
        return Err(ApiError::unprocessable(
            "not_stix",
            "the content is not a STIX bundle (not a JSON object)",
        ));
    };
    if top.get("type").and_then(Value::as_str) != Some("bundle") {
        return Err(ApiError::unprocessable(
            "not_stix",
            "the content is not a STIX bundle (`type` is not \"bundle\")",
        ));
    }
    let objects = match top.remove("objects") {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    let mut used = BTreeSet::from([tlp]);
    let marked: Vec<Value> = objects
        .into_iter()
        .filter_map(|o| mark_object(o, tlp, &mut used))
        .collect();
    let mut all: Vec<Value> = used.into_iter().map(tlp2_marking_definition).collect();
    all.extend(marked);
    top.insert("objects".into(), Value::Array(all));
    Ok(Value::Object(top))
}

fn stix_response(bundle: &Value) -> Result<Response, ApiError> {
    let body = serde_json::to_vec_pretty(bundle)
        .map_err(|e| ApiError::internal(format!("cannot encode the bundle: {e}")))?;
    Ok(([(header::CONTENT_TYPE, STIX_MEDIA_TYPE)], body).into_response())
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
    let store = state.store.clone();
    let (record, content) = blocking(move || {
        store
            .inbox_item(id)?
            .ok_or_else(|| ApiError::not_found(format!("no inbox bundle {id}")))
    })
    .await?;
    if let Some(e) = crate::inbox::withdrawn(&record) {
        return Err(e);
    }
    if record.kind != Kind::Stix {
        return Err(not_stix(record.kind, &format!("inbox bundle {id}")));
    }
    stix_response(&export_bundle(&content, record.tlp)?)
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
    let store = state.store.clone();
    let (record, content) = blocking(move || {
        let record = store
            .share(id)?
            .ok_or_else(|| ApiError::not_found(format!("no share {id}")))?;
        let content = store
            .share_content(id)?
            .ok_or_else(|| ApiError::not_found(format!("share {id} has no stored content")))?;
        Ok((record, content))
    })
    .await?;
    if record.kind != Kind::Stix {
        return Err(not_stix(record.kind, &format!("share {id}")));
    }
    stix_response(&export_bundle(&content, record.tlp)?)
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
    }
}
