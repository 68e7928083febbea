//! Maps a field path (`routes[2].timeouts.read`) to the line and column where its value starts.
//!
//! serde tells us *which* field is wrong; this index tells us *where* it is, for errors found
//! after deserialisation (duplicate names, bad durations, unknown upstreams, ...).

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Line and column, both 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Default)]
pub struct Locations {
    by_path: HashMap<String, Position>,
}

impl Locations {
    /// Indexes `text`. YAML the parser rejects yields an empty index (serde reports that error).
    pub fn index(text: &str) -> Self {
        let mut walker = Walker::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut walker, false).is_err() {
            return Self::default();
        }
        Self {
            by_path: walker.by_path,
        }
    }

    /// The position of `path`, or of its closest indexed ancestor.
    pub fn find(&self, path: &str) -> Option<Position> {
        let mut p = path;
        loop {
            if let Some(pos) = self.by_path.get(p) {
                return Some(*pos);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

enum Frame {
    Map { key: Option<String> },
    Seq { next: usize },
}

#[derive(Default)]
struct Walker {
    stack: Vec<Frame>,
    by_path: HashMap<String, Position>,
}

impl Walker {
    fn path(&self) -> String {
        let mut out = String::new();
        for frame in &self.stack {
            match frame {
                Frame::Map { key: Some(k) } => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Frame::Map { key: None } => {}
                Frame::Seq { next } => {
                    out.push('[');
                    out.push_str(&next.to_string());
                    out.push(']');
                }
            }
        }
        out
    }

    /// A node begins at `mark`; returns true if it was a mapping key.
    fn node_start(&mut self, mark: Marker, key_text: Option<&str>) -> bool {
        if let Some(Frame::Map { key }) = self.stack.last_mut()
            && key.is_none()
        {
            *key = Some(key_text.unwrap_or_default().to_owned());
            return true;
        }
        let pos = Position {
            line: mark.line(),
            col: mark.col() + 1,
        };
        self.by_path.entry(self.path()).or_insert(pos);
        false
    }

    /// A value node ended: advance the enclosing container.
    fn node_end(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Map { key }) => *key = None,
            Some(Frame::Seq { next }) => *next += 1,
            None => {}
        }
    }
}

impl MarkedEventReceiver for Walker {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(text, ..) if !self.node_start(mark, Some(&text)) => {
                self.node_end();
            }
            Event::Alias(_) if !self.node_start(mark, None) => {
                self.node_end();
            }
            Event::MappingStart(..) => {
                self.node_start(mark, None);
                self.stack.push(Frame::Map { key: None });
            }
            Event::SequenceStart(..) => {
                self.node_start(mark, None);
                self.stack.push(Frame::Seq { next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.node_end();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_values_and_falls_back_to_ancestors() {
        let text = "routes:\n  - name: a\n    timeouts: { read: 5s }\n  - name: b\nupstreams:\n  web:\n    endpoints: [\"1.2.3.4:80\"]\n";
        let loc = Locations::index(text);
        assert_eq!(
            loc.find("routes[0].name"),
            Some(Position { line: 2, col: 11 })
        );
        assert_eq!(
            loc.find("routes[1].name"),
            Some(Position { line: 4, col: 11 })
        );
        assert_eq!(loc.find("routes[0].timeouts.read").unwrap().line, 3);
        assert_eq!(loc.find("upstreams.web.endpoints[0]").unwrap().line, 7);
        assert_eq!(loc.find("upstreams.web.missing").unwrap().line, 7);
        assert_eq!(loc.find("routes[1].upstream").unwrap().line, 4);
    }
}
