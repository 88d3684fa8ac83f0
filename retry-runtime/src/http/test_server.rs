//! A scripted HTTP/1.1 server on 127.0.0.1 for the reqwest and async-openai tests: one reply per
//! connection, in order; it records each request's head (lower-cased).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does with one connection, after reading its request.
pub(crate) enum Reply {
    /// Writes these bytes (a whole response), then closes.
    Send(String),
    /// Answers nothing and keeps the connection open until the test ends.
    Hang,
    /// Closes the connection without answering.
    Close,
}

/// A response with this status line, headers and body, and `connection: close`.
pub(crate) fn response(status: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut text = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ));
    Reply::Send(text)
}

/// The heads of the requests received so far.
#[derive(Clone, Default)]
pub(crate) struct Requests(Arc<Mutex<Vec<String>>>);

impl Requests {
    /// The value of header `name` in each request received, in order.
    pub(crate) fn header(&self, name: &str) -> Vec<Option<String>> {
        let prefix = format!("{name}: ");
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|head| {
                head.lines()
                    .find_map(|line| line.strip_prefix(&prefix).map(str::to_owned))
            })
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// Starts a server that answers one connection per reply, then stops accepting.
pub(crate) async fn serve(replies: Vec<Reply>) -> (SocketAddr, Requests) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Requests::default();
    let recorded = requests.clone();
    tokio::spawn(async move {
        for reply in replies {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let head = read_request(&mut stream).await;
            recorded.0.lock().unwrap().push(head);
            match reply {
                Reply::Send(bytes) => {
                    let _ = stream.write_all(bytes.as_bytes()).await;
                    let _ = stream.shutdown().await;
                }
                Reply::Hang => {
                    tokio::spawn(async move {
                        let _keep = stream;
                        std::future::pending::<()>().await;
                    });
                }
                Reply::Close => drop(stream),
            }
        }
    });
    (addr, requests)
}

/// Reads a request's head and its `content-length` body; returns the head, lower-cased.
async fn read_request(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut buffer = [0_u8; 4096];
    let head_end = loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&bytes).to_lowercase(),
            Ok(n) => bytes.extend_from_slice(&buffer[..n]),
        }
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let mut body = bytes.len() - head_end;
    while body < length {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body += n,
        }
    }
    head
}
