//! Answers the proxy writes itself: JSON errors with the request id, and redirects.

use bytes::Bytes;
use http::HeaderValue;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use serde::Serialize;

use crate::headers::X_REQUEST_ID_WIRE;

/// The JSON body of every error the proxy answers itself.
#[derive(Serialize)]
pub struct ErrorBody<'a> {
    pub error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<&'a str>,
    pub request_id: &'a str,
}

impl<'a> ErrorBody<'a> {
    pub fn new(error: &'a str, request_id: &'a HeaderValue) -> Self {
        Self {
            error,
            reason: None,
            path: None,
            route: None,
            upstream: None,
            request_id: request_id.to_str().unwrap_or_default(),
        }
    }
}

/// Writes a complete JSON response. Keep-alive stays as the client asked.
pub async fn json(
    session: &mut Session,
    status: u16,
    body: &ErrorBody<'_>,
    request_id: &HeaderValue,
) -> pingora::Result<()> {
    json_with(session, status, body, request_id, None).await
}

/// [`json`] with one more header (e.g. `Retry-After`).
pub async fn json_with(
    session: &mut Session,
    status: u16,
    body: &ErrorBody<'_>,
    request_id: &HeaderValue,
    extra: Option<(http::HeaderName, HeaderValue)>,
) -> pingora::Result<()> {
    let mut bytes = serde_json::to_vec(body).unwrap_or_default();
    bytes.push(b'\n');
    let mut resp = ResponseHeader::build(status, Some(5))?;
    if let Some((name, value)) = extra {
        resp.insert_header(name, value)?;
    }
    resp.insert_header(http::header::CONTENT_TYPE, "application/json")?;
    resp.insert_header(http::header::CONTENT_LENGTH, bytes.len())?;
    resp.insert_header(http::header::CACHE_CONTROL, "no-store")?;
    resp.insert_header(X_REQUEST_ID_WIRE, request_id.clone())?;
    let head_only = session.req_header().method == http::Method::HEAD;
    session
        .write_response_header(Box::new(resp), head_only)
        .await?;
    if !head_only {
        session
            .write_response_body(Some(Bytes::from(bytes)), true)
            .await?;
    }
    Ok(())
}

/// Writes a 301 to `location` with an empty body.
pub async fn redirect(
    session: &mut Session,
    location: &str,
    request_id: &HeaderValue,
) -> pingora::Result<()> {
    let mut resp = ResponseHeader::build(301, Some(4))?;
    resp.insert_header(http::header::LOCATION, location)?;
    resp.insert_header(http::header::CONTENT_LENGTH, 0)?;
    resp.insert_header(X_REQUEST_ID_WIRE, request_id.clone())?;
    session.write_response_header(Box::new(resp), true).await
}
