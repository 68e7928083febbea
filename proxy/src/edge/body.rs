//! Where a request's body ends, decided from its framing as the bytes are read.
//!
//! The connection's transport (`downstream.rs`) feeds every byte it reads for a request through a
//! [`BodyGate`]: bytes past the end of the body are the start of the next request (a pipelining
//! client, or a stray CRLF after the body) and are held back for the connection loop instead of
//! reaching Pingora, which would answer them with an error for a request already processed.
//!
//! Chunked framing is checked strictly here, where Pingora is lenient (it ends a body at an empty
//! size line and takes a bare LF inside a chunk extension): a size line is 1–16 hex digits,
//! optional whitespace, an optional `;extension` of visible characters, spaces and tabs, and CRLF;
//! chunk data ends with CRLF; the trailer section is lines ending in CRLF, at most
//! [`MAX_TRAILER_BYTES`] in all.

use super::head::BodyFraming;

/// Largest trailer section accepted after the last chunk.
pub const MAX_TRAILER_BYTES: usize = 32 * 1024;

/// A framing error in a request body: the request is answered 400 (or cut) and the connection closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid chunked body: {0}")]
pub struct FramingError(pub &'static str);

/// Tracks one request body to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyGate {
    /// This many body bytes are still to come.
    Length(u64),
    Chunked(Chunk),
    /// The body is complete.
    Done,
}

/// Position inside chunked framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// Reading size digits: value so far, digits so far.
    Size { size: u64, digits: u8 },
    /// Whitespace after the digits.
    SizeSpace { size: u64 },
    /// Inside `;extension`.
    Extension { size: u64 },
    /// Saw the CR ending the size line.
    SizeLf { size: u64 },
    /// Inside chunk data.
    Data { left: u64 },
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or of the final blank line).
    TrailerStart { used: usize },
    /// Inside a trailer line.
    TrailerLine { used: usize },
    /// Saw the CR ending a trailer line; `blank` when that line was empty (the body's end).
    TrailerLf { used: usize, blank: bool },
}

impl BodyGate {
    pub fn new(framing: BodyFraming) -> Self {
        match framing {
            BodyFraming::None | BodyFraming::Length(0) => Self::Done,
            BodyFraming::Length(n) => Self::Length(n),
            BodyFraming::Chunked => Self::Chunked(Chunk::Size { size: 0, digits: 0 }),
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self, Self::Done)
    }

    /// The most bytes worth reading now: a length-delimited body is never read past its end.
    pub fn read_limit(&self) -> usize {
        match self {
            Self::Length(n) => usize::try_from(*n).unwrap_or(usize::MAX),
            Self::Chunked(_) => usize::MAX,
            Self::Done => 0,
        }
    }

    /// Takes `bytes` read from the client and returns how many of them belong to this body (the
    /// rest follow it); an error for broken chunked framing.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<usize, FramingError> {
        match self {
            Self::Done => Ok(0),
            Self::Length(left) => {
                let n = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                *left -= n as u64;
                if *left == 0 {
                    *self = Self::Done;
                }
                Ok(n)
            }
            Self::Chunked(chunk) => {
                let mut i = 0;
                while i < bytes.len() {
                    if let Chunk::Data { left } = chunk {
                        let n = usize::try_from(*left)
                            .unwrap_or(usize::MAX)
                            .min(bytes.len() - i);
                        *left -= n as u64;
                        i += n;
                        if *left == 0 {
                            *chunk = Chunk::DataCr;
                        }
                        continue;
                    }
                    let end = chunk.step(bytes[i])?;
                    i += 1;
                    if end {
                        *self = Self::Done;
                        return Ok(i);
                    }
                }
                Ok(i)
            }
        }
    }
}

impl Chunk {
    /// One framing byte; `Ok(true)` when it ends the body.
    fn step(&mut self, b: u8) -> Result<bool, FramingError> {
        const SIZE: FramingError = FramingError("a chunk size must be hex digits ended by CRLF");
        *self = match *self {
            Self::Size { size, digits } => match (b, hex(b)) {
                (_, Some(v)) if digits < 16 => Self::Size {
                    size: size << 4 | u64::from(v),
                    digits: digits + 1,
                },
                (_, Some(_)) => return Err(FramingError("chunk size too large")),
                (b' ' | b'\t', _) if digits > 0 => Self::SizeSpace { size },
                (b';', _) if digits > 0 => Self::Extension { size },
                (b'\r', _) if digits > 0 => Self::SizeLf { size },
                _ => return Err(SIZE),
            },
            Self::SizeSpace { size } => match b {
                b' ' | b'\t' => Self::SizeSpace { size },
                b';' => Self::Extension { size },
                b'\r' => Self::SizeLf { size },
                _ => return Err(SIZE),
            },
            Self::Extension { size } => match b {
                b'\r' => Self::SizeLf { size },
                b'\t' | b' '..=b'~' | 0x80..=0xff => Self::Extension { size },
                _ => return Err(FramingError("invalid byte in a chunk extension")),
            },
            Self::SizeLf { size } => match (b, size) {
                (b'\n', 0) => Self::TrailerStart { used: 0 },
                (b'\n', left) => Self::Data { left },
                _ => return Err(SIZE),
            },
            Self::DataCr if b == b'\r' => Self::DataLf,
            Self::DataLf if b == b'\n' => Self::Size { size: 0, digits: 0 },
            Self::DataCr | Self::DataLf => {
                return Err(FramingError("chunk data must be followed by CRLF"));
            }
            Self::TrailerStart { used }
            | Self::TrailerLine { used }
            | Self::TrailerLf { used, .. }
                if used >= MAX_TRAILER_BYTES =>
            {
                return Err(FramingError("trailer section too large"));
            }
            Self::TrailerStart { used } => match b {
                b'\r' => Self::TrailerLf {
                    used: used + 1,
                    blank: true,
                },
                b'\n' => return Err(FramingError("a trailer line must end with CRLF")),
                _ => Self::TrailerLine { used: used + 1 },
            },
            Self::TrailerLine { used } => match b {
                b'\r' => Self::TrailerLf {
                    used: used + 1,
                    blank: false,
                },
                b'\n' => return Err(FramingError("a trailer line must end with CRLF")),
                _ => Self::TrailerLine { used: used + 1 },
            },
            Self::TrailerLf { used, blank } => match b {
                b'\n' if blank => return Ok(true),
                b'\n' => Self::TrailerStart { used: used + 1 },
                _ => return Err(FramingError("a trailer line must end with CRLF")),
            },
            // `feed` takes data in bulk; one byte at a time is the same.
            Self::Data { left: 1 } => Self::DataCr,
            Self::Data { left } => Self::Data { left: left - 1 },
        };
        Ok(false)
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
