//! A minimal HTTP/1.1 client over a fresh loopback connection per request.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::header::HeaderMap;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A complete response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

/// How a request failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No response at all (connection closed before the head).
    NoResponse(String),
    /// The head arrived, then the body failed.
    BodyCut {
        status: u16,
        content_length: Option<u64>,
    },
}

pub(crate) const CHAT: &str =
    r#"{"model":"gpt-test","messages":[{"role":"user","content":"hello"}]}"#;

/// Sends one request on a new connection.
pub(crate) async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: impl Into<Bytes>,
    headers: &[(&str, &str)],
) -> Result<Reply, Failure> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| Failure::NoResponse(e.to_string()))?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Failure::NoResponse(e.to_string()))?;
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(body.into()))
        .expect("a valid request");
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| Failure::NoResponse(e.to_string()))?;
    let (parts, body) = response.into_parts();
    let status = parts.status.as_u16();
    let content_length = parts
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = body.collect().await.map_err(|_| Failure::BodyCut {
        status,
        content_length,
    })?;
    Ok(Reply {
        status,
        headers: parts.headers,
        body: body.to_bytes(),
    })
}

/// POSTs the standard chat request to the completions endpoint.
pub(crate) async fn chat(addr: SocketAddr, headers: &[(&str, &str)]) -> Result<Reply, Failure> {
    send(addr, "POST", "/v1/chat/completions", CHAT, headers).await
}

/// Like [`chat`], for requests that must get a response.
pub(crate) async fn chat_ok(addr: SocketAddr, headers: &[(&str, &str)]) -> Reply {
    chat(addr, headers).await.expect("a response")
}
