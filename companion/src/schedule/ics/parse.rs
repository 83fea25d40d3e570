//! Lines → properties → a component tree (RFC 5545 §3.1: folding, parameters, quoting).
//! Bounded by the caller's byte limit; components nest at most [`MAX_DEPTH`] deep.

/// Deepest component nesting read (VCALENDAR › VTIMEZONE › STANDARD is 3).
const MAX_DEPTH: usize = 8;

/// One content line.
#[derive(Debug, Clone)]
pub(super) struct Prop {
    pub name: String,
    pub params: Vec<(String, String)>,
    pub value: String,
}

impl Prop {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A component (`BEGIN:X` … `END:X`) with its properties and sub-components.
#[derive(Debug, Clone, Default)]
pub(super) struct Component {
    pub name: String,
    pub props: Vec<Prop>,
    pub children: Vec<Component>,
}

impl Component {
    /// The first property called `name`.
    pub fn prop(&self, name: &str) -> Option<&Prop> {
        self.props.iter().find(|p| p.name == name)
    }

    /// Every property called `name`.
    pub fn props<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Prop> + 'a {
        self.props.iter().filter(move |p| p.name == name)
    }

    /// The first property's value.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.prop(name).map(|p| p.value.trim())
    }
}

fn unfold(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(cont) = raw.strip_prefix(' ').or_else(|| raw.strip_prefix('\t'))
            && let Some(last) = lines.last_mut()
        {
            last.push_str(cont);
            continue;
        }
        if !raw.trim().is_empty() {
            lines.push(raw.to_owned());
        }
    }
    lines
}

fn parse_line(line: &str) -> Option<Prop> {
    // The value starts at the first ':' outside double quotes.
    let mut in_quotes = false;
    let mut colon = None;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ':' if !in_quotes => {
                colon = Some(i);
                break;
            }
            _ => {}
        }
    }
    let colon = colon?;
    let (head, value) = (&line[..colon], &line[colon + 1..]);
    let mut parts = head.split(';');
    let name = parts.next()?.trim().to_ascii_uppercase();
    let params = parts
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_ascii_uppercase(),
                v.trim().trim_matches('"').to_owned(),
            )
        })
        .collect();
    Some(Prop {
        name,
        params,
        value: value.to_owned(),
    })
}

/// TEXT values: `\n`, `\,`, `\;`, `\\` (RFC 5545 §3.3.11), trimmed.
pub(super) fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') | Some('N') => out.push(' '),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out.trim().to_owned()
}

/// The VCALENDAR of `text` (a UTF-8 byte-order mark and blank lines before it are allowed), or
/// why it is not one. Components outside a VCALENDAR (a bare VEVENT, a vendor wrapper) are read
/// as one calendar; the flag says so.
pub(super) fn calendar(text: &str) -> Result<(Component, bool), String> {
    let text = text.trim_start_matches('\u{feff}');
    let lines = unfold(text);
    let first = lines.first().map(|l| l.trim().to_ascii_uppercase());
    if !first.as_deref().is_some_and(|l| l.starts_with("BEGIN:")) {
        return Err("it does not start with BEGIN:VCALENDAR".into());
    }
    if first.as_deref() != Some("BEGIN:VCALENDAR") {
        let mut lines = lines;
        lines.insert(0, "BEGIN:VCALENDAR".into());
        lines.push("END:VCALENDAR".into());
        return read_tree(&lines).map(|c| (c, true));
    }
    read_tree(&lines).map(|c| (c, false))
}

fn read_tree(lines: &[String]) -> Result<Component, String> {
    let mut stack: Vec<Component> = Vec::new();
    let mut done: Option<Component> = None;
    for line in lines {
        let Some(p) = parse_line(line) else { continue };
        match p.name.as_str() {
            "BEGIN" => {
                if stack.len() == MAX_DEPTH {
                    return Err(format!("components nest deeper than {MAX_DEPTH}"));
                }
                stack.push(Component {
                    name: p.value.trim().to_ascii_uppercase(),
                    ..Component::default()
                });
            }
            "END" => {
                let name = p.value.trim().to_ascii_uppercase();
                if name == "VCALENDAR" && stack.len() > 1 {
                    // A wrapped feed's own END comes before ours: close everything.
                    while stack.len() > 1 {
                        let inner = stack.pop().expect("deeper than the root");
                        stack.last_mut().expect("the root").children.push(inner);
                    }
                }
                // Close up to the matching BEGIN (a missing END of an inner component is
                // forgiven); an END naming nothing open (`END:VTOOD`) closes the innermost, as
                // python-icalendar reads it.
                let Some(at) = stack
                    .iter()
                    .rposition(|c| c.name == name)
                    .or(stack.len().checked_sub(1))
                else {
                    continue;
                };
                while stack.len() > at + 1 {
                    let inner = stack.pop().expect("deeper than at");
                    stack.last_mut().expect("at exists").children.push(inner);
                }
                let c = stack.pop().expect("at exists");
                match stack.last_mut() {
                    Some(parent) => parent.children.push(c),
                    None => {
                        done = Some(c);
                        break;
                    }
                }
            }
            _ => {
                if let Some(c) = stack.last_mut() {
                    c.props.push(p);
                }
            }
        }
    }
    // A feed cut off before END:VCALENDAR keeps what it has.
    done.or_else(|| {
        while stack.len() > 1 {
            let inner = stack.pop()?;
            stack.last_mut()?.children.push(inner);
        }
        stack.pop()
    })
    .ok_or_else(|| "empty calendar".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_and_unclosed_components_are_read() {
        let cal = calendar(
            "\u{feff}BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nSUMMARY:x\r\n y\r\nBEGIN:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        )
        .unwrap()
        .0;
        assert_eq!(cal.children.len(), 1);
        assert_eq!(cal.children[0].value("SUMMARY"), Some("xy"));
        assert_eq!(cal.children[0].children[0].name, "VALARM");
        assert!(calendar("<html>").is_err());
        let (bare, wrapped) = calendar("BEGIN:VEVENT\nUID:b\nEND:VEVENT\n").unwrap();
        assert!(wrapped);
        assert_eq!(bare.children[0].value("UID"), Some("b"));
    }
}
