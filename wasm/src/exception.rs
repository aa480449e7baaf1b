//! A guest exception as the caller sees it: name, message and stack as QuickJS wrote them, with
//! frames read from the stack text (`    at name (file:line:column)`).

use jscell_engine::{JsException, StackFrame, STACK_FRAME_LIMIT};

use crate::codec::{Decoder, Malformed};

/// An OUTCOME_EXCEPTION body: u32+name, u32+message, u8 has_stack, [u32+stack].
pub fn parse_exception(bytes: &[u8]) -> Result<JsException, Malformed> {
    let mut decoder = Decoder::new(bytes, jscell_engine::ConversionLimits::default());
    let name = lossy(decoder.text()?);
    let message = lossy(decoder.text()?);
    // QuickJS's stack holds the frames only; V8's starts with the error's own line.
    let stack = if decoder.u8()? != 0 { Some(lossy(decoder.text()?)) } else { None };
    let frames: Vec<StackFrame> = stack.as_deref().map(frames_of).unwrap_or_default();
    let stack = stack.map(|text| if text.starts_with("    at") { format!("{name}: {message}\n{text}") } else { text });
    Ok(JsException { name, message, stack: stack.map(|s| s.trim_end().to_string()), frames })
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn frames_of(stack: &str) -> Vec<StackFrame> {
    stack.lines().filter_map(|line| line.trim_start().strip_prefix("at ")).map(frame_of).take(STACK_FRAME_LIMIT).collect()
}

/// `name (file:line:column)`, `file:line:column`, or `name (native)`.
fn frame_of(text: &str) -> StackFrame {
    let (function_name, location) = match text.strip_suffix(')').and_then(|t| t.split_once(" (")) {
        Some((name, location)) => (Some(name.to_string()), location),
        None => (None, text),
    };
    let mut parts = location.rsplitn(3, ':');
    let (column, line, file) = (parts.next(), parts.next(), parts.next());
    match (file, line.and_then(|l| l.parse().ok()), column.and_then(|c| c.parse().ok())) {
        (Some(file), Some(line), Some(column)) => StackFrame {
            function_name,
            file_name: Some(file.to_string()),
            line_number: Some(line),
            column_number: Some(column),
        },
        _ => StackFrame { function_name, file_name: Some(location.to_string()), line_number: None, column_number: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_read_from_the_stack_text() {
        let frames = frames_of("    at inner (<eval>:2:9)\n    at <eval>:4:1\n    at push (native)\n");
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0].function_name.as_deref(), Some("inner"));
        assert_eq!((frames[0].line_number, frames[0].column_number), (Some(2), Some(9)));
        assert_eq!(frames[1].function_name, None);
        assert_eq!(frames[1].file_name.as_deref(), Some("<eval>"));
        assert_eq!(frames[2].line_number, None);
    }
}
