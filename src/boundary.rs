//! The request boundary, before any handler runs (README, "Operations"):
//!
//! - a body must arrive within the body timeout (`SCENEFLOW_BODY_TIMEOUT_SECS`),
//!   or the request is answered 408 `request_timeout` and the connection closed;
//! - text reaching the database cannot hold NUL (PostgreSQL refuses it, SQLite
//!   would store it): a NUL in the path, the query, a JSON string or a form
//!   field is 400 `invalid_request` on both backends.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::HttpMessage;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

use crate::error::ApiError;
use crate::state::AppState;

/// JSON and form bodies are read here whole; the extractors allow no more.
pub const SMALL_BODY_LIMIT: usize = 1024 * 1024;

/// Refuse `value` when it holds NUL; `what` names it for the client.
pub fn refuse_nul(what: &str, value: &str) -> Result<(), ApiError> {
    if value.contains('\0') {
        Err(ApiError::InvalidRequest(format!(
            "{what} contains a NUL character, which is not allowed"
        )))
    } else {
        Ok(())
    }
}

fn has_encoded_nul(raw: &str) -> bool {
    raw.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
}

fn json_has_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(json_has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || json_has_nul(v)),
        _ => false,
    }
}

enum Kind {
    Form,
    Other,
}

fn kind(req: &ServiceRequest) -> Kind {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        Kind::Form
    } else {
        Kind::Other
    }
}

/// The middleware: see the module documentation.
pub async fn guard<B: MessageBody>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let timeout = req
        .app_data::<web::Data<AppState>>()
        .map(|s| Duration::from_secs(s.settings.body_timeout_secs))
        .unwrap_or(Duration::from_secs(30));
    if let Err(e) = check(&mut req, timeout).await {
        let timed_out = matches!(e, ApiError::RequestTimeout(_));
        // The error stays attached, so the default error handler can give
        // it the dashboard's face on a page.
        let mut res = req.error_response(e);
        if timed_out {
            // The rest of a slow body is not worth waiting for.
            res.response_mut()
                .head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
        }
        return Ok(res.map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

async fn check(req: &mut ServiceRequest, timeout: Duration) -> Result<(), ApiError> {
    if has_encoded_nul(req.uri().path()) || req.uri().query().is_some_and(has_encoded_nul) {
        return Err(ApiError::InvalidRequest(
            "the URL contains a NUL character (%00), which is not allowed".into(),
        ));
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let timed_out = || {
        ApiError::RequestTimeout(format!(
            "the request body did not arrive within {} s",
            timeout.as_secs()
        ))
    };
    let mut payload = req.take_payload();
    // Up to the small-body limit is read here, whatever the declared type:
    // the JSON endpoints read any body as JSON (README, "Errors"), and `curl
    // --data-binary` declares a workbook upload as a form.
    let (prefix, complete) = tokio::time::timeout_at(deadline, read_prefix(&mut payload))
        .await
        .map_err(|_| timed_out())??;
    if complete {
        let nul = serde_json::from_slice::<serde_json::Value>(&prefix)
            .is_ok_and(|v| json_has_nul(&v))
            || (matches!(kind(req), Kind::Form)
                && looks_urlencoded(&prefix)
                && form_urlencoded::parse(&prefix)
                    .any(|(k, v)| k.contains('\0') || v.contains('\0')));
        if nul {
            return Err(ApiError::InvalidRequest(
                "the request body contains a NUL character, which is not allowed".into(),
            ));
        }
        req.set_payload(Payload::from(prefix));
    } else {
        // A large body (a workbook) streams on to its handler, which applies
        // its own size limit; the deadline still holds for the rest of it.
        let rest = futures_util::stream::once(std::future::ready(Ok(prefix))).chain(payload);
        let stream = Deadline {
            inner: Box::pin(rest),
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
        };
        req.set_payload(Payload::Stream {
            payload: Box::pin(stream),
        });
    }
    Ok(())
}

/// A URL-encoded form is printable ASCII; a workbook declared as a form (as
/// `curl --data-binary` does) is not, and its bytes are not form fields.
fn looks_urlencoded(body: &[u8]) -> bool {
    body.iter()
        .all(|b| b.is_ascii_graphic() || matches!(b, b' ' | b'\r' | b'\n' | b'\t'))
}

/// The body up to just past [`SMALL_BODY_LIMIT`], and whether that was all of it.
async fn read_prefix(payload: &mut Payload) -> Result<(Bytes, bool), ApiError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::InvalidRequest(format!("the request body could not be read: {e}"))
        })?;
        body.extend_from_slice(&chunk);
        if body.len() > SMALL_BODY_LIMIT {
            return Ok((body.freeze(), false));
        }
    }
    Ok((body.freeze(), true))
}

/// A body stream that fails once its deadline has passed.
struct Deadline {
    inner: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(item) = self.inner.as_mut().poll_next(cx) {
            return Poll::Ready(item);
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the request body did not arrive in time",
            ))))),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_found_wherever_it_hides() {
        assert!(has_encoded_nul("/debug/testers/a%00b"));
        assert!(!has_encoded_nul("/debug/testers/a%100"));
        let v: serde_json::Value = serde_json::from_str(r#"{"a": [{"b\u0000": 1}]}"#).unwrap();
        assert!(json_has_nul(&v));
        let v: serde_json::Value = serde_json::from_str(r#"{"a": "\\u0000"}"#).unwrap();
        assert!(!json_has_nul(&v));
    }
}
