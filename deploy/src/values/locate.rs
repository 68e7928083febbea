//! Finds where a field path (`components.web.tag`, `proxy.trusted_proxies[0]`) sits in YAML text, for
//! errors that serde_yaml reports without a location (those raised by our own scalar checks).

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

#[derive(Default)]
struct Events(Vec<(Event, Marker)>);

impl MarkedEventReceiver for Events {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        self.0.push((ev, mark));
    }
}

/// Splits `a.b[2].c` into `["a", "b", "2", "c"]`.
fn segments(path: &str) -> Vec<String> {
    path.replace('[', ".")
        .replace(']', "")
        .split('.')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// 1-based (line, column) of the value at `path`, when the text parses and holds it.
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let mut events = Events::default();
    Parser::new_from_str(text).load(&mut events, false).ok()?;
    let want = segments(path);
    let mut at = 0;
    // Skip StreamStart and DocumentStart.
    while at < events.0.len() && matches!(events.0[at].0, Event::StreamStart | Event::DocumentStart)
    {
        at += 1;
    }
    let mut here = Vec::new();
    find(&events.0, &mut at, &mut here, &want).map(|m| (m.line(), m.col() + 1))
}

/// Walks the node starting at `events[*at]`, leaving `*at` after it; returns the mark of `want`.
fn find(
    events: &[(Event, Marker)],
    at: &mut usize,
    here: &mut Vec<String>,
    want: &[String],
) -> Option<Marker> {
    let (event, mark) = events.get(*at)?;
    *at += 1;
    let mut found = (here.as_slice() == want).then_some(*mark);
    match event {
        Event::MappingStart(..) => loop {
            match events.get(*at) {
                Some((Event::MappingEnd, _)) | None => {
                    *at += 1;
                    break;
                }
                Some((Event::Scalar(key, ..), _)) => {
                    let key = key.clone();
                    *at += 1;
                    here.push(key);
                    found = found.or(find(events, at, here, want));
                    here.pop();
                }
                Some(_) => {
                    // A complex key: skip it and its value.
                    find(events, at, here, &[])?;
                    find(events, at, here, &[])?;
                }
            }
        },
        Event::SequenceStart(..) => {
            let mut index = 0;
            loop {
                match events.get(*at) {
                    Some((Event::SequenceEnd, _)) | None => {
                        *at += 1;
                        break;
                    }
                    Some(_) => {
                        here.push(index.to_string());
                        found = found.or(find(events, at, here, want));
                        here.pop();
                        index += 1;
                    }
                }
            }
        }
        _ => {}
    }
    found
}
