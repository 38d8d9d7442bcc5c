//! The one OpenAPI 3.1 document at `/openapi.json`: the mobile API from its
//! handlers and request types (utoipa), the admin and debug APIs described
//! here, as JSON Schema, because their replies are views over engine and
//! store types that carry no OpenAPI derive. The test command checks the
//! whole document against a running server on both databases with
//! schemathesis (docs/src/mobile-api.md "The OpenAPI document"), so neither half can drift.

use std::sync::OnceLock;

use serde_json::{Map, Value, json};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::{events, offline, onboarding};

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A mobile token (JWT, HS256) whose `sub` is the user's id.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An admin token (`sceneflow admin-token --role ROLE --name NAME`); roles operator < qa < admin (and ingest, which may only send outcome events).",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "sceneflow API",
        description = "Chat-style onboarding: the mobile API (`/v1`, a mobile token), the admin API (`/admin/api`, an admin token) and QA's debug API (`/debug`, an admin token of role qa or admin). Every error is `{\"error\": {\"code\", \"message\", \"details\"}}` with a stable code (docs/src/errors.md)."
    ),
    paths(
        onboarding::start,
        onboarding::current,
        onboarding::answer,
        offline::bundle,
        offline::sync,
        onboarding::back,
        events::record
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct MobileDoc;

/// The whole document, built once.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut doc = serde_json::to_value(MobileDoc::openapi()).expect("the document is JSON");
        let paths = doc["paths"].as_object_mut().expect("paths");
        for (path, item) in admin_and_debug() {
            paths.insert(path, item);
        }
        let schemas = doc["components"]["schemas"]
            .as_object_mut()
            .expect("schemas");
        for (name, schema) in shared_schemas() {
            schemas.insert(name, schema);
        }
        for (name, schema) in crate::flow::schema::components() {
            schemas.insert(name.to_owned(), schema);
        }
        schemas.insert("Json".into(), any_json());
        link_the_run(&mut doc["paths"]);
        without_nul(&mut doc["components"]);
        without_nul(&mut doc["paths"]);
        doc
    })
}

/// OpenAPI links from every reply that shows a scene to the calls that
/// take its id, so that a client generator (and the stateful check) can
/// follow a run: start → answer → answer …, back.
fn link_the_run(paths: &mut Value) {
    let links = json!({
        "answer": {"operationId": "answer", "requestBody": {"scene_id": "$response.body#/scene/id"},
                   "description": "Answer the scene shown."},
        "back": {"operationId": "back", "requestBody": {"scene_id": "$response.body#/scene/id"},
                 "description": "Go back from the scene shown."},
    });
    for (path, method) in [
        ("/v1/onboarding/start", "post"),
        ("/v1/onboarding/current", "get"),
        ("/v1/onboarding/answers", "post"),
        ("/v1/onboarding/back", "post"),
    ] {
        if let Some(ok) = paths.pointer_mut(&format!(
            "/{}/{method}/responses/200",
            path.replace('/', "~1")
        )) {
            ok["links"] = links.clone();
        }
    }
}

/// No string the server takes or sends holds a NUL character
/// (docs/src/errors.md): a string pattern that says so.
const NO_NUL: &str = "^[^\\x00]*$";

/// Any JSON value without a NUL in a string or a key: what an object the
/// server reads may carry besides the fields it names (they are ignored,
/// but a NUL anywhere in a body refuses it).
fn any_json() -> Value {
    json!({"oneOf": [
        {"type": "null"},
        {"type": "boolean"},
        {"type": "number"},
        {"type": "string", "pattern": NO_NUL},
        {"type": "array", "items": reference("Json")},
        {"type": "object", "propertyNames": {"pattern": NO_NUL}, "additionalProperties": reference("Json")},
    ]})
}

/// Says [`NO_NUL`] of every string schema (but binary files and closed
/// enumerations) and every object's keys and undeclared members, in place.
fn without_nul(node: &mut Value) {
    match node {
        Value::Object(map) => {
            let types: Vec<&str> = match map.get("type") {
                Some(Value::String(t)) => vec![t.as_str()],
                Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            let (string, object) = (types.contains(&"string"), types.contains(&"object"));
            let binary = map.get("format").and_then(Value::as_str) == Some("binary");
            if string && !binary && !map.contains_key("enum") && !map.contains_key("pattern") {
                map.insert("pattern".into(), NO_NUL.into());
            }
            if object {
                map.entry("propertyNames")
                    .or_insert_with(|| json!({"pattern": NO_NUL}));
                map.entry("additionalProperties")
                    .or_insert_with(|| reference("Json"));
            }
            for value in map.values_mut() {
                without_nul(value);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(without_nul),
        _ => {}
    }
}

/// The methods the document gives for a concrete path (`/debug/users/u1`
/// matches `/debug/users/{user_id}`), upper case; empty when it has none.
pub fn methods_of(path: &str) -> Vec<String> {
    let segments: Vec<&str> = path.split('/').collect();
    let matches = |template: &str| {
        let parts: Vec<&str> = template.split('/').collect();
        parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(t, s)| (t.starts_with('{') && t.ends_with('}') && !s.is_empty()) || t == s)
    };
    let paths = document()["paths"].as_object();
    // A literal path wins over a template (`/admin/api/versions/import`
    // over `/admin/api/versions/{id}`), as in the router.
    let literal = paths.is_some_and(|p| p.contains_key(path));
    let mut methods: Vec<String> = paths
        .into_iter()
        .flatten()
        .filter(|(template, _)| {
            if literal {
                *template == path
            } else {
                matches(template)
            }
        })
        .flat_map(|(_, item)| item.as_object().into_iter().flatten())
        .map(|(method, _)| method.to_uppercase())
        .filter(|m| ["GET", "PUT", "POST", "DELETE", "PATCH"].contains(&m.as_str()))
        .collect();
    methods.sort();
    methods.dedup();
    methods
}

fn error(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}})
}

fn ok(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn list_of(name: &str) -> Value {
    json!({"type": "array", "items": reference(name)})
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "properties": properties})
}

/// What every admin and debug call may answer besides its own replies.
fn common_errors(responses: &mut Map<String, Value>) {
    for (status, what) in [
        (
            "400",
            "invalid_request (a body or query this call does not take)",
        ),
        ("401", "unauthorized (no admin token, or a revoked one)"),
        ("403", "forbidden (details: needed_role, role)"),
        ("429", "too_many_connections (Retry-After)"),
        ("503", "storage_unavailable"),
    ] {
        responses.entry(status).or_insert_with(|| error(what));
    }
}

/// One operation: its summary, the role it needs, its parameters, body
/// and replies.
struct Op {
    id: &'static str,
    summary: &'static str,
    role: &'static str,
    parameters: Vec<Value>,
    body: Option<Value>,
    responses: Vec<(&'static str, Value)>,
}

impl Op {
    fn new(id: &'static str, role: &'static str, summary: &'static str) -> Op {
        Op {
            id,
            summary,
            role,
            parameters: Vec::new(),
            body: None,
            responses: Vec::new(),
        }
    }

    fn parameter(mut self, name: &str, place: &str, schema: Value, description: &str) -> Op {
        self.parameters.push(json!({
            "name": name, "in": place, "required": place == "path",
            "description": description, "schema": schema,
        }));
        self
    }

    fn user(self) -> Op {
        self.parameter(
            "user_id",
            "path",
            json!({"type": "string", "minLength": 1, "maxLength": 255}),
            "The tester's user id (the mobile token's `sub`).",
        )
    }

    fn version(self) -> Op {
        self.parameter(
            "id",
            "path",
            json!({"type": "string", "minLength": 1}),
            "A version id (12 hex digits, as the versions list gives).",
        )
    }

    fn json_body(mut self, schema: Value) -> Op {
        self.body =
            Some(json!({"required": true, "content": {"application/json": {"schema": schema}}}));
        self
    }

    fn reply(mut self, status: &'static str, response: Value) -> Op {
        self.responses.push((status, response));
        self
    }

    fn build(self) -> Value {
        let mut responses = Map::new();
        for (status, response) in self.responses {
            responses.insert(status.to_owned(), response);
        }
        common_errors(&mut responses);
        let mut op = json!({
            "operationId": self.id,
            "summary": self.summary,
            "description": if self.role == "ingest" {
                "Needs an admin token of role ingest, or operator or higher.".to_owned()
            } else {
                format!("Needs an admin token of role {} or higher (not ingest).", self.role)
            },
            "security": [{"admin_token": []}],
            "responses": responses,
        });
        if !self.parameters.is_empty() {
            op["parameters"] = Value::Array(self.parameters);
        }
        if let Some(body) = self.body {
            op["requestBody"] = body;
        }
        op
    }
}

/// A date or an RFC 3339 time within the years the export reads. The
/// pattern is narrower than what is read (days 01–28, years from 1971, so
/// that no offset moves it out of range) and every value it allows is taken.
fn export_time(example: &str) -> Value {
    json!({
        "type": "string",
        "pattern": "^(?:197[1-9]|19[89][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])(?:T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,9})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9]))?$",
        "example": example,
    })
}

fn channel_query(op: Op) -> Op {
    op.parameter(
        "channel",
        "query",
        json!({"type": "string", "enum": ["staging", "production"]}),
        "The channel (default production).",
    )
}

fn admin_and_debug() -> Vec<(String, Value)> {
    let version_reply = || {
        object(
            &["version", "report"],
            json!({"version": reference("Version"), "report": reference("Report")}),
        )
    };
    let upload = Op::new("upload_version", "operator", "Upload a workbook as a new version")
        .parameter(
            "file_name",
            "query",
            json!({"type": "string"}),
            "The file's name, kept with the version.",
        )
        .reply("201", ok("A new version (the report may hold warnings)", version_reply()))
        .reply("200", ok("The same file was uploaded before: that version", version_reply()))
        .reply("408", error("request_timeout (the body came too slowly)"))
        .reply("413", error("payload_too_large"))
        .reply(
            "422",
            error("invalid_workbook (details: every problem with sheet, row, column and a fix), not_a_workbook"),
        );
    let mut upload = upload.build();
    upload["requestBody"] = json!({"required": true, "description": "The workbook (.xlsx, .xls, .ods) as the raw body, or a form with the field `workbook`.", "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {"schema": {"type": "object", "required": ["workbook"], "additionalProperties": false, "properties": {"workbook": {"type": "string", "format": "binary"}}}},
    }});
    let list = Op::new(
        "list_versions",
        "operator",
        "Every uploaded version, newest first",
    )
    .reply(
        "200",
        ok(
            "The versions",
            object(&["versions"], json!({"versions": list_of("Version")})),
        ),
    )
    .build();
    let import = Op::new("import_version", "operator", "Import a workbook already in the store, under inbox/")
        .json_body(object(&["key"], json!({"key": {
            "type": "string",
            "description": "A key under inbox/: at most 1,024 bytes, segments of at most 255 bytes, none empty, `.` or `..`, no backslash. The pattern says it in characters (63 per segment, 256 in all, so that any UTF-8 fits).",
            "maxLength": 256,
            "pattern": "^inbox/(?:(?:[^/\\\\.\\x00][^/\\\\\\x00]{0,62}|\\.[^/\\\\.\\x00][^/\\\\\\x00]{0,61}|\\.\\.[^/\\\\\\x00]{1,61})/)*(?:[^/\\\\.\\x00][^/\\\\\\x00]{0,62}|\\.[^/\\\\.\\x00][^/\\\\\\x00]{0,61}|\\.\\.[^/\\\\\\x00]{1,61})$",
            "example": "inbox/onboarding.xlsx",
        }})))
        .reply("201", ok("A new version", version_reply()))
        .reply("200", ok("The same file was imported before: that version", version_reply()))
        .reply("404", error("not_found (no object at that key)"))
        .reply("413", error("payload_too_large"))
        .reply("422", error("invalid_workbook, not_a_workbook"))
        .build();
    let show = Op::new(
        "show_version",
        "operator",
        "A version: its steps, scenes, choices and report",
    )
    .version()
    .reply(
        "200",
        ok(
            "The version",
            object(
                &["version", "steps", "scenes", "choices", "report"],
                json!({
                    "version": reference("Version"),
                    "steps": {"type": "array", "items": {"type": "string"}},
                    "scenes": {"type": "array", "items": {"type": "object"}},
                    "choices": {"type": "array", "items": {"type": "object"}},
                    "report": reference("Report"),
                }),
            ),
        ),
    )
    .reply("404", error("not_found"))
    .build();
    let workbook = Op::new("download_workbook", "operator", "The version's workbook, byte for byte as uploaded")
        .version()
        .reply("200", json!({"description": "The workbook as an attachment, in the format it was uploaded in", "content": {
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {"schema": {"type": "string", "format": "binary"}},
            "application/vnd.ms-excel": {"schema": {"type": "string", "format": "binary"}},
            "application/vnd.oasis.opendocument.spreadsheet": {"schema": {"type": "string", "format": "binary"}},
        }}))
        .reply("404", error("not_found"))
        .reply("500", error("stored_file_mismatch (the stored file is not the one uploaded; the on-call engineer is paged)"))
        .build();
    let approve = Op::new(
        "approve_version",
        "qa",
        "QA approves the version staging serves",
    )
    .version()
    .reply(
        "200",
        ok(
            "The approval",
            object(&["approval"], json!({"approval": reference("Approval")})),
        ),
    )
    .reply("404", error("not_found"))
    .reply("409", error("not_on_staging"))
    .build();
    let fresh = json!({
        "as_of": {"type": ["string", "null"], "description": "The time of the last event folded into the figures (UTC); null before any."},
        "pending_events": {"type": "integer", "minimum": 0, "description": "Events recorded but not yet folded in."},
    });
    let with_fresh = |required: &[&str], mut properties: Value| {
        for (k, v) in fresh.as_object().expect("object") {
            properties[k] = v.clone();
        }
        let mut all: Vec<&str> = required.to_vec();
        all.extend(["as_of", "pending_events"]);
        object(&all, properties)
    };
    let funnel = channel_query(Op::new("funnel", "operator", "The funnel of a version on a channel").version())
        .reply("200", ok("Per step in flow order; started, completed and the completion rate", with_fresh(
            &["version", "channel", "started", "completed", "completion_rate", "steps"],
            json!({
                "version": {"type": "string"},
                "channel": {"type": "string"},
                "started": {"type": "integer"},
                "completed": {"type": "integer"},
                "completion_rate": {"type": "number"},
                "steps": {"type": "array", "items": {"type": "object", "required": ["step", "reached", "answered", "left"], "properties": {
                    "step": {"type": "string"},
                    "reached": {"type": "integer"},
                    "answered": {"type": "integer"},
                    "left": {"type": "integer"},
                    "came_back": {"type": "integer"},
                    "rescued": {"type": "integer"},
                    "median_seconds": {"type": ["number", "null"]},
                }}},
            }),
        )))
        .reply("404", error("not_found"))
        .build();
    let impact = Op::new(
        "impact",
        "operator",
        "Users who met a version, per channel, and runs still in flight",
    )
    .version()
    .reply(
        "200",
        ok(
            "The impact scope",
            with_fresh(
                &["version", "channels", "offline_runs"],
                json!({
                    "version": {"type": "string"},
                    "channels": {"type": "array", "items": {"type": "object"}},
                    "offline_runs": {"type": "object", "additionalProperties": {"type": "integer"}},
                }),
            ),
        ),
    )
    .reply("404", error("not_found"))
    .build();
    let experiments = Op::new("experiments", "operator", "Every A/B group's exposures and completions, with sample-ratio checks")
        .parameter("version", "query", json!({"type": "string"}), "Only this version's experiments.")
        .reply("200", ok("The experiments", with_fresh(&["experiments"], json!({
            "experiments": {"type": "array", "items": {"type": "object", "required": ["version", "experiment_id", "variants", "sample_ratio"], "properties": {
                "version": {"type": "string"},
                "experiment_id": {"type": "string", "example": "intro:pass_through"},
                "variants": {"type": "array", "items": {"type": "object"}},
                "sample_ratio": {"type": ["object", "null"]},
            }}},
        }))))
        .reply("404", error("not_found"))
        .build();
    let events = Op::new(
        "export_events",
        "operator",
        "The event log as NDJSON or CSV, streamed",
    )
    .parameter(
        "since",
        "query",
        export_time("2026-11-25"),
        "From this date or RFC 3339 time (UTC), inclusive; between the years 1970 and 9999.",
    )
    .parameter(
        "until",
        "query",
        export_time("2026-11-26T00:00:00Z"),
        "Until this date or time, exclusive; between the years 1970 and 9999.",
    )
    .parameter(
        "format",
        "query",
        json!({"type": "string", "enum": ["ndjson", "csv"]}),
        "ndjson (default) or csv.",
    )
    .parameter(
        "log",
        "query",
        json!({"type": "string", "enum": ["events", "outcomes"]}),
        "events (default: the scene events) or outcomes (the outcome events).",
    )
    .reply(
        "200",
        json!({"description": "One event per line", "content": {
            "application/x-ndjson": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}},
        }}),
    )
    .build();
    let channels = Op::new("list_channels", "operator", "What each channel serves, its approval, and the version production would roll back to")
        .reply("200", ok("The channels", object(&["channels", "production_rollback_to"], json!({
            "channels": {"type": "array", "items": {"type": "object", "required": ["name", "version_id", "updated_at", "updated_by", "approval"], "properties": {
                "name": {"type": "string", "enum": ["staging", "production"]},
                "version_id": {"type": "string"},
                "updated_at": {"type": "string"},
                "updated_by": {"type": "string"},
                "approval": {"oneOf": [{"type": "null"}, reference("Approval")]},
            }}},
            "production_rollback_to": {"type": ["string", "null"]},
        }))))
        .build();
    let change = || {
        object(
            &["change"],
            json!({"change": {"type": "object", "required": ["channel", "from", "to"], "properties": {
                "channel": {"type": "string", "enum": ["staging", "production"]},
                "from": {"type": ["string", "null"]},
                "to": {"type": "string"},
            }}}),
        )
    };
    let rollback = Op::new(
        "rollback",
        "admin",
        "Production goes back to the version it served before",
    )
    .reply("200", ok("The change", change()))
    .reply("409", error("nothing_to_roll_back"))
    .build();
    let point = Op::new(
        "point_channel",
        "operator",
        "Deploy a version to staging (operator), or publish an approved one to production (admin)",
    )
    .parameter(
        "name",
        "path",
        json!({"type": "string", "enum": ["staging", "production"]}),
        "The channel.",
    )
    .json_body(object(
        &["version"],
        json!({
            "version": {"type": "string", "minLength": 1},
            "rollout_percent": {"type": "number", "minimum": 0.005, "maximum": 100, "description": "Production only: below 100, a staged rollout to this share of new runs (docs/src/rollouts.md)."},
        }),
    ))
    .reply("200", ok("The change, or the rollout begun", json!({"oneOf": [
        change(),
        object(&["rollout"], json!({"rollout": reference("Rollout")})),
    ]})))
    .reply("404", error("not_found (no such channel or version)"))
    .reply("409", error("not_approved, rollout_running, invalid_rollout"))
    .build();
    let rollout = Op::new(
        "rollout",
        "operator",
        "The running staged rollout of production, else the newest, with its guardrails",
    )
    .reply("200", ok("The rollout", reference("Rollout")))
    .reply("404", error("not_found (no rollout ever ran)"))
    .build();
    let widen = Op::new(
        "widen_rollout",
        "admin",
        "Widen the running rollout; 100 completes it",
    )
    .json_body(object(
        &["percent"],
        json!({"percent": {"type": "number", "minimum": 0.005, "maximum": 100}}),
    ))
    .reply("200", ok("The rollout", reference("Rollout")))
    .reply("409", error("no_rollout, invalid_rollout (narrowing)"))
    .build();
    let abort = Op::new(
        "abort_rollout",
        "admin",
        "Abort the running rollout: new runs go to the previous version",
    )
    .reply("200", ok("The rollout", reference("Rollout")))
    .reply("409", error("no_rollout"))
    .build();
    let check = Op::new(
        "check_rollout",
        "admin",
        "Judge the running rollout's guardrails now and act on a breach",
    )
    .reply("200", ok("The rollout", reference("Rollout")))
    .reply("404", error("not_found (no rollout ever ran)"))
    .build();
    let rescue = Op::new("rescue", "admin", "Move the in-progress runs of a channel pinned to this version onto another, at their step (dry run first)")
        .version()
        .json_body(object(&["to"], json!({
            "to": {"type": "string", "minLength": 1},
            "channel": {"type": "string", "enum": ["staging", "production"]},
            "dry_run": {"type": "boolean"},
        })))
        .reply("200", ok("What moved, or would", object(&["dry_run", "from", "to", "channel", "moved", "by_step", "stayed"], json!({
            "dry_run": {"type": "boolean"},
            "from": {"type": "string"},
            "to": {"type": "string"},
            "channel": {"type": "string", "enum": ["staging", "production"]},
            "moved": {"type": "integer", "minimum": 0},
            "by_step": {"type": "object", "additionalProperties": {"type": "integer"}},
            "stayed": {"type": "array", "items": object(&["step", "runs"], json!({"step": {"type": "string"}, "runs": {"type": "integer"}}))},
        }))))
        .reply("404", error("not_found (no such version)"))
        .reply("409", error("not_approved"))
        .build();
    let incidents = Op::new("incidents", "operator", "Every automatic rollback and rescue, newest first, with its Markdown record")
        .reply("200", ok("The incident record", object(&["incidents"], json!({"incidents": {"type": "array", "items": object(
            &["id", "kind", "occurred_at", "actor", "channel", "version_id", "to_version", "guardrail", "details", "markdown"],
            json!({
                "id": {"type": "integer"},
                "kind": {"type": "string", "enum": ["rolled_back", "rescued"]},
                "occurred_at": {"type": "string"},
                "actor": {"type": "string"},
                "channel": {"type": "string", "enum": ["staging", "production"]},
                "version_id": {"type": "string"},
                "to_version": {"type": "string"},
                "guardrail": {"type": ["string", "null"]},
                "details": {"type": "object"},
                "markdown": {"type": "string"},
            }),
        )}}))))
        .build();
    let audit = Op::new("audit_log", "operator", "The latest 500 entries of the audit log, newest first")
        .reply("200", ok("The entries", object(&["entries"], json!({"entries": {"type": "array", "items": {"type": "object", "required": ["id", "at", "actor", "action"], "properties": {
            "id": {"type": ["string", "integer"]},
            "at": {"type": "string"},
            "actor": {"type": "string"},
            "action": {"type": "string"},
            "version_from": {"type": ["string", "null"]},
            "version_to": {"type": ["string", "null"]},
            "note": {"type": ["string", "null"]},
        }}}}))))
        .build();
    let conditions = Op::new("list_conditions", "operator", "The named conditions defined in code, with the attributes each reads")
        .reply("200", ok("The catalogue", object(&["conditions"], json!({"conditions": {"type": "array", "items": {"type": "object", "required": ["name", "description", "attributes"], "properties": {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "attributes": {"type": "array", "items": {"type": "string"}},
        }}}}))))
        .build();

    let ingest = Op::new("ingest_events", "ingest", "Outcome events of any users, from a back end (up to 1,000)")
        .json_body(object(&["events"], json!({"events": {"type": "array", "maxItems": 1000, "items": {
            "type": "object", "required": ["id", "user_id", "name"], "properties": {
                "id": {"type": "string", "minLength": 1, "maxLength": 128},
                "user_id": {"type": "string", "minLength": 1, "maxLength": 63, "description": "1–255 bytes"},
                "name": {"type": "string", "pattern": "^[a-z0-9_]{1,64}$"},
                "value": {"type": ["number", "null"], "minimum": -1e12, "maximum": 1e12, "description": "Default 1."},
                "time": {"type": ["string", "null"], "description": "RFC 3339 with an offset, from 2000 to 5 minutes ahead; default the time of receipt.", "pattern": "^20[0-2][0-5]-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,6})?(?:Z|[+-](?:0[0-9]|1[0-3]):[0-5][0-9])$"},
            }}}})))
        .reply("200", ok("Stored; ids sent before are duplicates", reference("EventsAccepted")))
        .reply("403", error("forbidden (an ingest token on another call)"))
        .build();
    let metric_view = || {
        object(
            &[
                "name",
                "event",
                "kind",
                "window_hours",
                "direction",
                "guardrail",
                "description",
                "built_in",
            ],
            json!({
                "name": {"type": "string"}, "event": {"type": "string"},
                "kind": {"type": "string", "enum": ["binomial", "mean", "count"]},
                "window_hours": {"type": "integer", "minimum": 0},
                "direction": {"type": "string", "enum": ["increase", "decrease"]},
                "guardrail": {"type": "boolean"}, "description": {"type": "string"},
                "built_in": {"type": "boolean"},
                "updated_at": {"type": "string"}, "updated_by": {"type": "string"},
            }),
        )
    };
    let metrics = Op::new(
        "list_metrics",
        "operator",
        "Every metric, the built-in completed first",
    )
    .reply(
        "200",
        ok(
            "The metrics",
            object(
                &["metrics"],
                json!({"metrics": {"type": "array", "items": metric_view()}}),
            ),
        ),
    )
    .build();
    let metric_name = |op: Op| {
        op.parameter(
            "name",
            "path",
            json!({"type": "string", "pattern": "^[a-z0-9_]{1,64}$"}),
            "The metric's name.",
        )
    };
    let put_metric = metric_name(Op::new("put_metric", "operator", "Create or replace a metric; its figures are rebuilt from the whole history"))
        .json_body(json!({"type": "object", "required": ["event", "kind", "window_hours"], "additionalProperties": false, "properties": {
            "event": {"type": "string", "pattern": "^[a-z0-9_]{1,64}$"},
            "kind": {"type": "string", "enum": ["binomial", "mean", "count"]},
            "window_hours": {"type": "integer", "minimum": 1, "maximum": 87600},
            "direction": {"type": ["string", "null"], "enum": ["increase", "decrease", null]},
            "guardrail": {"type": "boolean"},
            "description": {"type": "string", "maxLength": 500},
        }}))
        .reply("200", ok("The metric", metric_view()))
        .reply("409", error("built_in_metric (completed)"))
        .build();
    let delete_metric = metric_name(Op::new(
        "delete_metric",
        "operator",
        "Remove a metric and its figures",
    ))
    .reply(
        "200",
        ok(
            "Removed",
            object(&["deleted"], json!({"deleted": {"type": "string"}})),
        ),
    )
    .reply("404", error("not_found"))
    .reply("409", error("built_in_metric (completed)"))
    .build();
    let comparison = json!({"oneOf": [{"type": "null"}, {"type": "object", "required": ["frequentist", "sequential", "bayesian"], "properties": {
        "frequentist": {"type": "object", "required": ["lift", "ci", "p_value"]},
        "sequential": {"type": "object", "required": ["lift", "ci", "p_value"]},
        "bayesian": {"type": "object", "required": ["lift", "ci", "chance_to_win", "risk"]},
    }}]});
    let results = Op::new("experiment_results", "operator", "An A/B group judged on a metric, with GrowthBook's numbers")
        .parameter("experiment_id", "path", json!({"type": "string", "example": "intro:pass_through"}), "step:condition, as the experiments list gives it.")
        .parameter("version", "query", json!({"type": "string"}), "Default: the version production serves.")
        .parameter("metric", "query", json!({"type": "string"}), "Default: completed.")
        .parameter("min_effect", "query", json!({"type": "number", "exclusiveMinimum": 0, "maximum": 10}), "The relative effect the power figures plan for (default 0.05).")
        .reply("200", ok("Per variant the statistics, per treatment the comparisons", with_fresh(&["experiment_id", "version", "metric", "sample_ratio", "variants", "power"], json!({
            "experiment_id": {"type": "string"}, "version": {"type": "string"},
            "metric": {"type": "object", "required": ["name", "kind"]},
            "sample_ratio": {"type": ["object", "null"]},
            "variants": {"type": "array", "items": {"type": "object", "required": ["scene", "weight", "users", "sum", "sum_squares", "mean", "variance"], "properties": {
                "scene": {"type": "string"}, "weight": {"type": "number"},
                "users": {"type": "integer"}, "sum": {"type": "number"}, "sum_squares": {"type": "number"},
                "mean": {"type": ["number", "null"]}, "variance": {"type": ["number", "null"]},
                "vs_control": comparison,
            }}},
            "power": {"type": "object", "required": ["min_relative_effect", "users_per_variant", "users_still_needed"]},
        }))))
        .reply("404", error("not_found (no such version, experiment or metric)"))
        .build();

    let tester_view = || {
        ok(
            "What QA sees of the tester: run, history, attributes, variants, conditions",
            reference("DebugUser"),
        )
    };
    let add_tester = Op::new("add_tester", "qa", "Register a tester: their runs go to staging")
        .user()
        .reply("200", ok("Registered", object(&["tester", "added", "channel"], json!({
            "tester": {"type": "string"}, "added": {"type": "boolean"}, "channel": {"type": "string"},
        }))))
        .build();
    let remove_tester = Op::new("remove_tester", "qa", "Unregister a tester")
        .user()
        .reply(
            "200",
            ok(
                "Unregistered",
                object(
                    &["tester", "removed"],
                    json!({
                        "tester": {"type": "string"}, "removed": {"type": "boolean"},
                    }),
                ),
            ),
        )
        .reply("403", error("not_a_tester, forbidden"))
        .build();
    let user = Op::new(
        "debug_user",
        "qa",
        "A tester's run, history, attributes, variants and conditions",
    )
    .user()
    .reply("200", tester_view())
    .reply("403", error("not_a_tester, forbidden"))
    .build();
    let overrides = Op::new(
        "debug_overrides",
        "qa",
        "Replace a tester's attribute overrides",
    )
    .user()
    .json_body(reference("Attributes"))
    .reply("200", tester_view())
    .reply("403", error("not_a_tester, forbidden"))
    .build();
    let variants = Op::new(
        "debug_variant",
        "qa",
        "Force a tester's variant of an A/B step",
    )
    .user()
    .json_body(object(
        &["step", "scene"],
        json!({"step": {"type": "string"}, "scene": {"type": "string"}}),
    ))
    .reply("200", tester_view())
    .reply("403", error("not_a_tester, forbidden"))
    .reply(
        "404",
        error("not_found (no such step or scene in the version)"),
    )
    .reply("409", error("not_an_experiment"))
    .build();
    let jump = Op::new("debug_jump", "qa", "Move a tester's run to a step")
        .user()
        .json_body(object(&["step"], json!({"step": {"type": "string"}})))
        .reply(
            "200",
            ok("The run's state at that step", reference("State")),
        )
        .reply("403", error("not_a_tester, forbidden"))
        .reply("404", error("not_found (no such step), not_started"))
        .reply("409", error("conflict"))
        .build();
    let reset = Op::new(
        "debug_reset",
        "qa",
        "Forget a tester's run; overrides and forced variants stay",
    )
    .user()
    .reply(
        "200",
        ok(
            "Forgotten",
            object(
                &["tester", "run_forgotten"],
                json!({
                    "tester": {"type": "string"}, "run_forgotten": {"type": "boolean"},
                }),
            ),
        ),
    )
    .reply("403", error("not_a_tester, forbidden"))
    .build();
    let simulate = Op::new("simulate", "qa", "Play a flow with given attributes and answers, storing nothing")
        .json_body(json!({"type": "object", "properties": {
            "version": {"type": ["string", "null"], "description": "Default: the version staging serves."},
            "user_id": {"type": "string", "minLength": 1, "maxLength": 255, "description": "Whose stored A/B assignments to honour and whose bucket to use."},
            "attributes": reference("Attributes"),
            "answers": {"description": "Answers by step key, or an ordered script of {\"step\", \"answer\"} and \"back\" (docs/src/qa.md).", "oneOf": [
                {"type": "null"},
                {"type": "object", "additionalProperties": reference("Answer")},
                {"type": "array", "items": {"oneOf": [
                    {"type": "object", "required": ["step"], "additionalProperties": false, "properties": {
                        "step": {"type": "string"}, "answer": reference("Answer"),
                    }},
                    {"type": "object", "required": ["back"], "additionalProperties": false, "properties": {
                        "back": {"const": true},
                    }},
                ]}},
            ]},
        }}))
        .reply("200", ok("The path taken, why, and where it stopped", object(&["version", "attributes", "outcome", "path"], json!({
            "version": {"type": "string"},
            "attributes": {"type": "object"},
            "outcome": {"type": "string"},
            "path": {"type": "array", "items": {"type": "object"}},
            "problem": {},
        }))))
        .reply("404", error("not_found (no such version)"))
        .reply("422", error("invalid_answer"))
        .build();

    let item = |ops: Vec<(&str, Value)>| {
        let mut item = Map::new();
        for (method, op) in ops {
            item.insert(method.to_owned(), op);
        }
        Value::Object(item)
    };
    vec![
        (
            "/admin/api/versions".into(),
            item(vec![("post", upload), ("get", list)]),
        ),
        (
            "/admin/api/versions/import".into(),
            item(vec![("post", import)]),
        ),
        ("/admin/api/versions/{id}".into(), item(vec![("get", show)])),
        (
            "/admin/api/versions/{id}/workbook".into(),
            item(vec![("get", workbook)]),
        ),
        (
            "/admin/api/versions/{id}/approve".into(),
            item(vec![("post", approve)]),
        ),
        (
            "/admin/api/versions/{id}/funnel".into(),
            item(vec![("get", funnel)]),
        ),
        (
            "/admin/api/versions/{id}/impact".into(),
            item(vec![("get", impact)]),
        ),
        (
            "/admin/api/experiments".into(),
            item(vec![("get", experiments)]),
        ),
        (
            "/admin/api/events".into(),
            item(vec![("get", events), ("post", ingest)]),
        ),
        ("/admin/api/metrics".into(), item(vec![("get", metrics)])),
        (
            "/admin/api/metrics/{name}".into(),
            item(vec![("put", put_metric), ("delete", delete_metric)]),
        ),
        (
            "/admin/api/experiments/{experiment_id}/results".into(),
            item(vec![("get", results)]),
        ),
        ("/admin/api/channels".into(), item(vec![("get", channels)])),
        (
            "/admin/api/channels/production/rollback".into(),
            item(vec![("post", rollback)]),
        ),
        (
            "/admin/api/channels/production/rollout".into(),
            item(vec![("get", rollout), ("patch", widen)]),
        ),
        (
            "/admin/api/channels/production/rollout/abort".into(),
            item(vec![("post", abort)]),
        ),
        (
            "/admin/api/channels/production/rollout/check".into(),
            item(vec![("post", check)]),
        ),
        (
            "/admin/api/versions/{id}/rescue".into(),
            item(vec![("post", rescue)]),
        ),
        (
            "/admin/api/incidents".into(),
            item(vec![("get", incidents)]),
        ),
        (
            "/admin/api/channels/{name}".into(),
            item(vec![("put", point)]),
        ),
        ("/admin/api/audit".into(), item(vec![("get", audit)])),
        (
            "/admin/api/conditions".into(),
            item(vec![("get", conditions)]),
        ),
        (
            "/debug/testers/{user_id}".into(),
            item(vec![("put", add_tester), ("delete", remove_tester)]),
        ),
        ("/debug/users/{user_id}".into(), item(vec![("get", user)])),
        (
            "/debug/users/{user_id}/overrides".into(),
            item(vec![("put", overrides)]),
        ),
        (
            "/debug/users/{user_id}/variants".into(),
            item(vec![("put", variants)]),
        ),
        (
            "/debug/users/{user_id}/jump".into(),
            item(vec![("post", jump)]),
        ),
        (
            "/debug/users/{user_id}/reset".into(),
            item(vec![("post", reset)]),
        ),
        ("/debug/simulate".into(), item(vec![("post", simulate)])),
    ]
}

/// Component schemas the admin and debug calls share.
fn shared_schemas() -> Vec<(String, Value)> {
    vec![
        (
            "Rollout".into(),
            object(
                &[
                    "version",
                    "previous",
                    "percent",
                    "state",
                    "started_at",
                    "started_by",
                    "updated_at",
                    "updated_by",
                    "ended_at",
                    "checked_at",
                    "guardrails",
                ],
                json!({
                    "version": {"type": "string"},
                    "previous": {"type": "string"},
                    "percent": {"type": "number"},
                    "state": {"type": "string", "enum": ["running", "completed", "aborted", "rolled_back"]},
                    "started_at": {"type": "string"},
                    "started_by": {"type": "string"},
                    "updated_at": {"type": "string"},
                    "updated_by": {"type": "string"},
                    "ended_at": {"type": ["string", "null"]},
                    "checked_at": {"type": ["string", "null"]},
                    "guardrails": {"type": "array", "items": object(
                        &["name", "kind", "direction", "control", "treatment", "difference", "ci", "alpha", "breached"],
                        json!({
                            "name": {"type": "string", "description": "completed, metric:NAME or drop_off:STEP"},
                            "kind": {"type": "string", "enum": ["binomial", "mean", "count"]},
                            "direction": {"type": "string", "enum": ["increase", "decrease"]},
                            "control": {"type": "object"},
                            "treatment": {"type": "object"},
                            "difference": {"type": ["number", "null"]},
                            "ci": {"oneOf": [{"type": "null"}, {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}]},
                            "alpha": {"type": "number"},
                            "breached": {"type": "boolean"},
                        }),
                    )},
                }),
            ),
        ),
        (
            "Version".into(),
            object(
                &[
                    "id",
                    "sha256",
                    "file_name",
                    "format",
                    "store_key",
                    "size_bytes",
                    "uploaded_by",
                    "created_at",
                    "step_count",
                    "scene_count",
                    "choice_count",
                    "warning_count",
                ],
                json!({
                    "id": {"type": "string", "example": "4cdf2923d95f"},
                    "sha256": {"type": "string"},
                    "file_name": {"type": ["string", "null"]},
                    "format": {"type": "string", "enum": ["xlsx", "xls", "ods"]},
                    "store_key": {"type": "string"},
                    "size_bytes": {"type": "integer", "minimum": 0},
                    "uploaded_by": {"type": "string"},
                    "created_at": {"type": "string", "description": "UTC, without an offset."},
                    "step_count": {"type": "integer"},
                    "scene_count": {"type": "integer"},
                    "choice_count": {"type": "integer"},
                    "warning_count": {"type": "integer"},
                }),
            ),
        ),
        (
            "Report".into(),
            object(
                &["valid", "errors", "warnings"],
                json!({
                    "valid": {"type": "boolean"},
                    "errors": {"type": "array", "items": reference("Problem")},
                    "warnings": {"type": "array", "items": reference("Problem")},
                }),
            ),
        ),
        (
            "Problem".into(),
            object(
                &["code", "sheet", "message"],
                json!({
                    "code": {"type": "string", "example": "unknown_condition"},
                    "sheet": {"type": ["string", "null"]},
                    "row": {"type": ["integer", "null"]},
                    "column": {"type": ["string", "null"]},
                    "message": {"type": "string"},
                    "fix": {"type": ["string", "null"]},
                }),
            ),
        ),
        (
            "Approval".into(),
            object(
                &["version_id", "approved_by", "approved_at"],
                json!({
                    "version_id": {"type": "string"},
                    "approved_by": {"type": "string"},
                    "approved_at": {"type": "string"},
                }),
            ),
        ),
        (
            "DebugUser".into(),
            object(
                &["user_id", "channel", "attributes", "conditions"],
                json!({
                    "user_id": {"type": "string"},
                    "channel": {"type": "string"},
                    "run": {"type": ["object", "null"]},
                    "state": {"oneOf": [{"type": "null"}, reference("State")]},
                    "history": {"type": "array", "items": {"type": "object"}},
                    "backs": {"type": "array", "items": {"type": "object"}},
                    "attributes": {"type": "object", "properties": {
                        "start": {"type": "object"}, "overrides": {"type": "object"},
                        "answers": {"type": "object"}, "effective": {"type": "object"},
                    }},
                    "variants": {"type": "array", "items": {"type": "object"}},
                    "conditions": {"type": "array", "items": {"type": "object", "required": ["name", "matches"], "properties": {
                        "name": {"type": "string"}, "description": {"type": "string"},
                        "attributes": {"type": "array", "items": {"type": "string"}},
                        "matches": {"type": "boolean"},
                    }}},
                }),
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scene_links_to_its_answer() {
        let ok = document()
            .pointer("/paths/~1v1~1onboarding~1start/post/responses/200/links/answer/operationId")
            .cloned();
        assert_eq!(ok, Some(json!("answer")));
    }

    #[test]
    fn a_wrong_method_names_the_right_ones() {
        assert_eq!(methods_of("/debug/testers/qa-1"), ["DELETE", "PUT"]);
        assert_eq!(methods_of("/admin/api/versions/import"), ["POST"]);
        assert_eq!(methods_of("/admin/api/versions/4cdf2923d95f"), ["GET"]);
        assert!(methods_of("/admin/qa").is_empty());
    }

    #[test]
    fn every_reference_names_a_schema() {
        let doc = document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for piece in text.split("#/components/schemas/").skip(1) {
            let name: String = piece.chars().take_while(|c| *c != '"').collect();
            assert!(schemas.contains_key(&name), "no schema {name}");
        }
    }
}
