//! The reference's refusals of JSON envelope texts that are not valid JSON. Its reader
//! (FlatBuffers' text parser, strict JSON, unknown fields skipped) walks the envelope
//! table by table along the schema and stops at the first token it cannot take; this
//! module walks the same way over the text and names that token as it does:
//! `expecting: <what> instead got: <token>` (a key that is no string, a missing `:` or
//! `,`, a string field given something else, text after the envelope), and `cannot parse
//! value starting with: <token>` for an unknown field's value.
//!
//! Only the shapes walked here are answered: a text that needs anything else (a message
//! before its type, a table written as a list, single-quoted strings, comments, escapes
//! the parser refuses, a member given twice, characters outside JSON) keeps this node's
//! own text. Positions are [`super::flatc_errors`]'s: line, and the column just past the
//! token the parser was looking at.

use super::flatc_errors::{bool_value, refusal_at, scalar_token_name, token, ScalarValue};
use super::schema::{self, Kind, TableDef};
use super::V2Error;

/// Where the walk stopped: the reference's refusal (just past the token, what it says),
/// or a shape this module does not walk.
enum Stop {
    Refused(usize, String),
    NotWalked,
}

type Walk<T> = Result<T, Stop>;

/// The reference's refusal of the envelope `text`, which is not valid JSON; `None` when
/// the walk meets a shape it does not follow, or finds nothing wrong.
pub fn syntax_refusal(text: &[u8]) -> Option<V2Error> {
    let mut w = Walker { text, at: 0 };
    match w.envelope() {
        Err(Stop::Refused(end, what)) => Some(refusal_at(text, end, &what)),
        Err(Stop::NotWalked) | Ok(()) => None,
    }
}

/// Deepest nesting walked: the schema is four tables deep, and skipped values of unknown
/// fields are bounded by this too.
const MAX_DEPTH: usize = 16;

struct Walker<'a> {
    text: &'a [u8],
    /// Just past the current token.
    at: usize,
}

/// A token as the parser sees it.
#[derive(PartialEq)]
enum Tok {
    Punct(u8),
    Str,
    Number,
    Word,
    End,
}

impl Walker<'_> {
    /// The token at or after `self.at`, its kind and span, without moving.
    fn peek(&self) -> Walk<(Tok, usize, usize)> {
        let Some((start, end)) = token(self.text, self.at) else {
            return Ok((Tok::End, self.text.len(), self.text.len()));
        };
        let t = &self.text[start..end];
        let kind = match t[0] {
            b'{' | b'}' | b'[' | b']' | b',' | b':' => Tok::Punct(t[0]),
            b'"' => {
                // Only strings whose escapes the parser takes as JSON does.
                serde_json::from_slice::<String>(t).map_err(|_| Stop::NotWalked)?;
                Tok::Str
            }
            b'-' | b'0'..=b'9' => {
                scalar_token_name(t).ok_or(Stop::NotWalked)?;
                Tok::Number
            }
            c if (c.is_ascii_alphabetic() || c == b'_')
                && t.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_') =>
            {
                Tok::Word
            }
            _ => return Err(Stop::NotWalked),
        };
        Ok((kind, start, end))
    }

    /// How the parser names the current token in its errors.
    fn name(&self) -> Walk<(String, usize)> {
        let (kind, start, end) = self.peek()?;
        let name = match kind {
            Tok::Punct(c) => char::from(c).to_string(),
            Tok::Str | Tok::Number => {
                scalar_token_name(&self.text[start..end]).ok_or(Stop::NotWalked)?
            }
            Tok::Word => String::from_utf8_lossy(&self.text[start..end]).into_owned(),
            Tok::End => "end of file".into(),
        };
        Ok((name, end))
    }

    fn next(&mut self) -> Walk<()> {
        let (_, _, end) = self.peek()?;
        self.at = end;
        Ok(())
    }

    /// The parser's `expecting: <what> instead got: <token>` unless the token is `want`.
    fn expect(&mut self, want: Tok, what: &str) -> Walk<()> {
        if self.peek()?.0 == want {
            return self.next();
        }
        let (got, end) = self.name()?;
        Err(Stop::Refused(
            end,
            format!("expecting: {what} instead got: {got}"),
        ))
    }

    fn envelope(&mut self) -> Walk<()> {
        self.table(&schema::ENVELOPE, 0)?;
        self.expect(Tok::End, "end of file")
    }

    /// A table written as an object, its fields read by the schema.
    fn table(&mut self, def: &TableDef, depth: usize) -> Walk<()> {
        if depth > MAX_DEPTH || self.peek()?.0 != Tok::Punct(b'{') {
            return Err(Stop::NotWalked);
        }
        self.next()?;
        let mut seen: Vec<String> = Vec::new();
        // Fields taken: an unknown or null one is skipped without counting, and while
        // none is counted a closing brace may follow a comma.
        let mut taken = 0usize;
        let mut union_type: Option<&'static TableDef> = None;
        loop {
            if taken == 0 && self.peek()?.0 == Tok::Punct(b'}') {
                break;
            }
            let (kind, start, end) = self.peek()?;
            let key: String = match kind {
                Tok::Str => {
                    serde_json::from_slice(&self.text[start..end]).map_err(|_| Stop::NotWalked)?
                }
                _ => {
                    let (got, end) = self.name()?;
                    return Err(Stop::Refused(
                        end,
                        format!("expecting: string constant instead got: {got}"),
                    ));
                }
            };
            self.next()?;
            self.expect(Tok::Punct(b':'), ":")?;
            if seen.contains(&key) || key == "$schema" {
                return Err(Stop::NotWalked);
            }
            if self.field(def, &key, &mut union_type, depth)? {
                taken += 1;
            }
            seen.push(key);
            if self.peek()?.0 == Tok::Punct(b'}') {
                break;
            }
            self.expect(Tok::Punct(b','), ",")?;
        }
        self.next()
    }

    /// One field's value, and whether the parser counts it as a field taken; `union_type`
    /// is the member named by a union's type field read before it in this table.
    fn field(
        &mut self,
        def: &TableDef,
        key: &str,
        union_type: &mut Option<&'static TableDef>,
        depth: usize,
    ) -> Walk<bool> {
        let is_null = |w: &Self| -> Walk<bool> {
            let (kind, start, end) = w.peek()?;
            Ok(kind == Tok::Word && &w.text[start..end] == b"null")
        };
        for f in def.fields {
            if let Kind::Union(u) = f.kind {
                if key == format!("{}_type", f.name) {
                    // The type: a member's name (one word; anything else is left to
                    // the checks of valid JSON).
                    let (kind, start, end) = self.peek()?;
                    let name: String = match kind {
                        Tok::Str => serde_json::from_slice(&self.text[start..end])
                            .map_err(|_| Stop::NotWalked)?,
                        _ => return Err(Stop::NotWalked),
                    };
                    *union_type = Some(u.by_name(&name).ok_or(Stop::NotWalked)?.1);
                    return self.next().map(|()| true);
                }
            }
            if key != f.name {
                continue;
            }
            let scalar = matches!(
                f.kind,
                Kind::Bool(_) | Kind::U64 | Kind::I32 | Kind::Enum(..)
            );
            if is_null(self)? && !scalar {
                return self.next().map(|()| false);
            }
            let walked = match f.kind {
                Kind::Str => self.expect(Tok::Str, "string constant"),
                Kind::Table(t) => self.table(t, depth + 1),
                // A message after its type; before it the parser looks ahead.
                Kind::Union(_) => match union_type {
                    Some(t) => self.table(t, depth + 1),
                    None => Err(Stop::NotWalked),
                },
                Kind::StrVec => self.strings(),
                // Values the parser takes as they are; the rest (enums, quoted numbers,
                // values out of range) has rules of its own, some checked only at the
                // table's end.
                Kind::Bool(_) => {
                    let (_, start, end) = self.peek()?;
                    match bool_value(&self.text[start..end]) {
                        Some(ScalarValue::Taken) => self.next(),
                        Some(ScalarValue::Refused(what)) => Err(Stop::Refused(end, what)),
                        Some(ScalarValue::RefusedAtBuild(_)) | None => Err(Stop::NotWalked),
                    }
                }
                Kind::U64 | Kind::I32 | Kind::Enum(..) => {
                    let (kind, start, end) = self.peek()?;
                    let t = &self.text[start..end];
                    let plain = match (f.kind, kind) {
                        (Kind::U64, Tok::Number) => {
                            std::str::from_utf8(t).is_ok_and(|n| n.parse::<u64>().is_ok())
                        }
                        (Kind::I32, Tok::Number) => {
                            std::str::from_utf8(t).is_ok_and(|n| n.parse::<i32>().is_ok())
                        }
                        _ => false,
                    };
                    if !plain {
                        return Err(Stop::NotWalked);
                    }
                    self.next()
                }
            };
            return walked.map(|()| true);
        }
        self.skip(depth).map(|()| false)
    }

    /// A vector of strings: `[` then strings separated by commas, then `]`.
    fn strings(&mut self) -> Walk<()> {
        if self.peek()?.0 != Tok::Punct(b'[') {
            return Err(Stop::NotWalked);
        }
        self.next()?;
        self.delimited(b']', |w| w.expect(Tok::Str, "string constant"))
    }

    /// Items separated by commas up to `close` (the opener already passed), a comma
    /// before `close` only when no item came, then past `close`.
    fn delimited(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> Walk<()>) -> Walk<()> {
        let mut count = 0usize;
        // Each round takes an item, or ends with an error or at `close`.
        loop {
            if count == 0 && self.peek()?.0 == Tok::Punct(close) {
                break;
            }
            item(self)?;
            count += 1;
            if self.peek()?.0 == Tok::Punct(close) {
                break;
            }
            self.expect(Tok::Punct(b','), ",")?;
        }
        self.next()
    }

    /// An unknown field's value, skipped as any JSON value.
    fn skip(&mut self, depth: usize) -> Walk<()> {
        if depth > MAX_DEPTH {
            return Err(Stop::NotWalked);
        }
        match self.peek()?.0 {
            Tok::Punct(b'{') => {
                self.next()?;
                self.delimited(b'}', |w| {
                    w.expect(Tok::Str, "string constant")?;
                    w.expect(Tok::Punct(b':'), ":")?;
                    w.skip(depth + 1)
                })
            }
            Tok::Punct(b'[') => {
                self.next()?;
                self.delimited(b']', |w| w.skip(depth + 1))
            }
            Tok::Str | Tok::Number => self.next(),
            Tok::Word if matches!(self.name()?.0.as_str(), "true" | "false" | "null" | "inf") => {
                self.next()
            }
            Tok::Word | Tok::Punct(_) | Tok::End => {
                let (got, end) = self.name()?;
                Err(Stop::Refused(
                    end,
                    format!("cannot parse value starting with: {got}"),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::syntax_refusal;

    /// Each text with the reference parser's answer (taken from FlatBuffers' parser at
    /// the reference's pinned version, run with the reference's options over each text),
    /// or `None` where this node keeps its own text.
    #[test]
    fn texts_that_are_no_json_are_refused_where_the_parser_stops() {
        let cases: [(&str, Option<&str>); 26] = [
            (r#"{"message_type": "AccountWeight", "message": {"account": "x",}}"#, Some("1: 62: error: expecting: string constant instead got: }")),
            (r#"{"message_type": "AccountWeight", "message": {"account": "x"}"#, Some("1: 61: error: expecting: , instead got: end of file")),
            (r#"{"message_type": "AccountWeight", "message": {"account": "x"}}}"#, Some("1: 63: error: expecting: end of file instead got: }")),
            (r#"{"message_type": "AccountWeight", "message": {account: "x"}}"#, Some("1: 53: error: expecting: string constant instead got: account")),
            (r#"{"message_type": "AccountWeight", "message": {"account" "x"}}"#, Some("1: 59: error: expecting: : instead got: string constant")),
            (r#"{"message_type": "AccountWeight", "message": {"account": "x" "y": 1}}"#, Some("1: 64: error: expecting: , instead got: string constant")),
            (r#"{"message_type": "AccountWeight", "message": {"account": }}"#, Some("1: 58: error: expecting: string constant instead got: }")),
            (r#"{"message_type": "AccountWeight", "message": {"a": tru}}"#, Some("1: 54: error: cannot parse value starting with: tru")),
            ("{not json", Some("1: 4: error: expecting: string constant instead got: not")),
            (r#"{"message_type": "IsAlive", "message": {},}"#, Some("1: 43: error: expecting: string constant instead got: }")),
            (r#"{"message_type": "IsAlive""#, Some("1: 26: error: expecting: , instead got: end of file")),
            ("{\"message_type\": \"AccountWeight\",\n  \"message\": {\"account\": \"x\"}\n  \"credentials\": \"k\"}", Some("3: 15: error: expecting: , instead got: string constant")),
            (r#"{"message_type": "TopicConfirmation", "message": {"options": {"accounts": ["a",]}}}"#, Some("1: 80: error: expecting: string constant instead got: ]")),
            (r#"{"message_type": "TopicConfirmation", "message": {"options": {"accounts": ["a" "b"]}}}"#, Some("1: 82: error: expecting: , instead got: string constant")),
            (r#"{"message_type": "IsAlive", "message": {"x": {"y": [1, 2,]}}}"#, Some("1: 58: error: cannot parse value starting with: ]")),
            (r#"{"message_type": "IsAlive", "message": {"x": [1 2]}}"#, Some("1: 49: error: expecting: , instead got: integer constant")),
            (r#"{"message_type": "IsAlive", "message": {"x": {"y" 1}}}"#, Some("1: 51: error: expecting: : instead got: integer constant")),
            (r#"{"message_type": "IsAlive", "message": {"x": :}}"#, Some("1: 46: error: cannot parse value starting with: :")),
            (r#"{"time": 5, "message_type": "IsAlive", "message": {}} x"#, Some("1: 55: error: expecting: end of file instead got: x")),
            (r#"{"message_type": "IsAlive", "message": {}} {}"#, Some("1: 44: error: expecting: end of file instead got: {")),
            (r#"{"message_type": "ServiceStop", "message": {"restart": true "service_name": "a"}}"#, Some("1: 74: error: expecting: , instead got: string constant")),
            (r#"{"message_type": "IsAlive", "message": {"x": nope}}"#, Some("1: 49: error: cannot parse value starting with: nope")),
            // The parser takes these (a trailing comma while no field of the table is
            // counted) or refuses them for what this walk does not follow (a null
            // required field, single quotes): this node's text.
            (r#"{"message_type": "IsAlive", "message": {"x": 1,}}"#, None),
            (r#"{"message_type": "IsAlive", "message": {"x": inf,}}"#, None),
            (r#"{"message_type": "AccountWeight", "message": {"account": null,}}"#, None),
            (r#"{"message_type": "AccountWeight", "message": {"account": 'x'}"#, None),
        ];
        for (text, want) in cases {
            let got = syntax_refusal(text.as_bytes()).map(|e| e.message);
            assert_eq!(
                got,
                want.map(|w| format!("Invalid message format: {w}")),
                "{text}"
            );
        }
    }
}
