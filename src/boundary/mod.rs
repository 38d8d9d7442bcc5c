//! The request boundary, before any handler runs (docs/src/operations.md):
//!
//! - a body must arrive within the body timeout (`SCENEFLOW_BODY_TIMEOUT_SECS`),
//!   or the request is answered 408 `request_timeout` and the connection closed;
//! - text reaching the database cannot hold NUL (PostgreSQL refuses it, SQLite
//!   would store it): a NUL in the path, the query, a JSON string or a form
//!   field is 400 `invalid_request` on both backends;
//! - every JSON body the service takes is an object: [`Json`], the JSON
//!   extractor, refuses an array, a string, a number, true, false or null
//!   (which serde would otherwise take for a struct's fields in order) with
//!   400 `invalid_request` (docs/src/errors.md).
//!
//! A small body is checked here with a scan of its bytes, so the handler's
//! extractor is the only JSON parse.

pub mod admin;
pub mod metrics;
pub mod upload;

use std::future::{Ready, ready};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures_util::future::{Either, MapOk, TryFutureExt};
use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, extractor_error};
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

/// JSON's insignificant whitespace.
fn is_json_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Whether a body read as JSON holds a NUL in a string or an object key:
/// for every valid JSON text the verdict of parsing it and looking at every
/// string and key, without the parse (so a NUL under a key the object gives
/// again is refused, though a parse keeps only the later value). Only a body that opens an object, an array or a
/// string is looked at (a number, true, false or null has no text; a
/// workbook, a multipart form or a URL-encoded form opens with none of
/// these, and may hold NUL bytes that are not text).
fn json_body_has_nul(body: &[u8]) -> bool {
    matches!(
        body.iter().copied().find(|&b| !is_json_space(b)),
        Some(b'{' | b'[' | b'"')
    ) && json_text_has_nul(body)
}

/// In valid JSON a NUL can only be the escape `\u0000`: a `u0000` after an
/// odd run of backslashes (after an even run, the backslashes are escaped
/// ones and `u0000` is text). A raw NUL byte is never valid JSON and is
/// refused too.
fn json_text_has_nul(text: &[u8]) -> bool {
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            0 => return true,
            b'\\' => {
                let run = text[i..].iter().take_while(|&&b| b == b'\\').count();
                i += run;
                if run % 2 == 1 && text[i..].starts_with(b"u0000") {
                    return true;
                }
            }
            _ => i += 1,
        }
    }
    false
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
    // A client over its share of connections: answered at once, before
    // its body is read, and the connection closed (docs/src/operations.md "Limits").
    if req
        .conn_data::<crate::throttle::ConnectionSlot>()
        .is_some_and(|slot| slot.is_over())
    {
        let mut res = req.error_response(ApiError::TooManyConnections);
        res.response_mut()
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
        return Ok(res.map_into_right_body());
    }
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

/// The least time any body gets, and the slowest rate a client must keep
/// to get more (docs/src/operations.md "Limits"): a sign-in form of a hundred bytes has
/// 5 s, not the 30 s a workbook upload may need, so a slow client holds a
/// connection only as long as its body could take.
const BODY_GRACE: Duration = Duration::from_secs(5);
const SLOWEST_RATE: u64 = 64 * 1024;

/// The time a body of `length` bytes may take to arrive: [`BODY_GRACE`] plus
/// its length at [`SLOWEST_RATE`], at most `cap` (`SCENEFLOW_BODY_TIMEOUT_SECS`);
/// `cap` when the length is not declared (a chunked body).
fn body_deadline(length: Option<u64>, cap: Duration) -> Duration {
    match length {
        Some(n) => (BODY_GRACE + Duration::from_secs_f64(n as f64 / SLOWEST_RATE as f64)).min(cap),
        None => cap,
    }
}

fn declared_length(req: &ServiceRequest) -> Option<u64> {
    req.headers()
        .get(actix_web::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

async fn check(req: &mut ServiceRequest, timeout: Duration) -> Result<(), ApiError> {
    if has_encoded_nul(req.uri().path()) || req.uri().query().is_some_and(has_encoded_nul) {
        return Err(ApiError::InvalidRequest(
            "the URL contains a NUL character (%00), which is not allowed".into(),
        ));
    }
    let timeout = body_deadline(declared_length(req), timeout);
    let deadline = tokio::time::Instant::now() + timeout;
    let timed_out = || {
        ApiError::RequestTimeout(format!(
            "the request body did not arrive within {} s",
            timeout.as_secs()
        ))
    };
    let mut payload = req.take_payload();
    // Up to the small-body limit is read here, whatever the declared type:
    // the JSON endpoints read any body as JSON (docs/src/errors.md), and `curl
    // --data-binary` declares a workbook upload as a form.
    let (prefix, complete) = tokio::time::timeout_at(deadline, read_prefix(&mut payload))
        .await
        .map_err(|_| timed_out())??;
    if complete {
        let nul = json_body_has_nul(&prefix)
            || (matches!(kind(req), Kind::Form)
                && looks_urlencoded(&prefix)
                && form_urlencoded::parse(&prefix)
                    .any(|(k, v)| k.contains('\0') || v.contains('\0')));
        if nul {
            return Err(ApiError::InvalidRequest(
                "the request body contains a NUL character, which is not allowed".into(),
            ));
        }
        if opens_json_non_object(&prefix) {
            req.extensions_mut().insert(NotAnObject);
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

/// A mark the boundary leaves on a request whose small body opens a JSON
/// value that is not an object, for [`Json`] to refuse.
#[derive(Clone, Copy)]
struct NotAnObject;

/// Whether the body opens an array, a string, a number, true, false or null.
/// Another first byte is not JSON at all, and the extractor says so.
fn opens_json_non_object(body: &[u8]) -> bool {
    matches!(
        body.iter().copied().find(|&b| !is_json_space(b)),
        Some(b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n')
    )
}

/// The JSON body extractor of every endpoint that takes one (clippy.toml
/// disallows `web::Json`): `web::Json` with its settings (docs/src/errors.md),
/// and an object only. A body the boundary has not read (over
/// the small-body limit) is refused by the extractor's limit anyway.
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

#[allow(clippy::disallowed_types)]
type Inner<T> = web::Json<T>;

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = Either<
        Ready<Result<Self, actix_web::Error>>,
        MapOk<<Inner<T> as FromRequest>::Future, fn(Inner<T>) -> Self>,
    >;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if req.extensions().contains::<NotAnObject>() {
            return Either::Left(ready(Err(extractor_error(
                "the body must be a JSON object, not an array, a string, a number, \
                 true, false or null",
                false,
            ))));
        }
        let into: fn(Inner<T>) -> Self = |json| Json(json.into_inner());
        Either::Right(Inner::<T>::from_request(req, payload).map_ok(into))
    }
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
mod tests;
