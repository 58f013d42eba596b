//! A raw HTTP/1.1 client over `TcpStream`: it reports exactly what came over the wire
//! (short bodies, resets, lying headers), which a well-behaved client library would hide.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Set when reading ended with an error (e.g. connection reset).
    pub read_error: Option<std::io::ErrorKind>,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn content_length(&self) -> Option<usize> {
        self.header("content-length").and_then(|v| v.parse().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("json body")
    }
}

/// Sends one GET with `Connection: close` and reads until the server closes.
pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Raw {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut data = Vec::new();
    let mut read_error = None;
    let mut buf = [0u8; 8192];
    loop {
        match tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => data.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => {
                read_error = Some(e.kind());
                break;
            }
            Err(_) => panic!("read timed out"),
        }
    }
    parse(data, read_error)
}

fn parse(data: Vec<u8>, read_error: Option<std::io::ErrorKind>) -> Raw {
    let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Raw {
            status: 0,
            headers: Vec::new(),
            body: data,
            read_error,
        };
    };
    let head = String::from_utf8_lossy(&data[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Raw {
        status,
        headers,
        body: data[end + 4..].to_vec(),
        read_error,
    }
}
