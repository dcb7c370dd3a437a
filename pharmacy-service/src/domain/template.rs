//! Message templates with variables: `{customer_name}`, `{agent_name}`, `{branch_name}`,
//! `{branch_hours}`, `{ticket_id}`. Unknown placeholders are left as written.

use std::collections::BTreeMap;

/// Values for a template's variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateVars(pub BTreeMap<&'static str, String>);

impl TemplateVars {
    /// Sets a variable.
    pub fn set(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.0.insert(name, value.into());
        self
    }
}

/// Substitutes `{name}` placeholders. `{{` and `}}` write literal braces.
pub fn render(template: &str, vars: &TemplateVars) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push(tail.as_bytes()[0] as char);
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('{')
            && let Some(end) = tail.find('}')
            && let Some(v) = vars.0.get(&tail[1..end])
        {
            out.push_str(v);
            rest = &tail[end + 1..];
            continue;
        }
        out.push(tail.as_bytes()[0] as char);
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering() {
        let v = TemplateVars::default()
            .set("customer_name", "منى")
            .set("branch_name", "Khalifa Toriel");
        let cases = [
            ("أهلاً {customer_name}!", "أهلاً منى!"),
            ("{branch_name} / {customer_name}", "Khalifa Toriel / منى"),
            ("{unknown} stays", "{unknown} stays"),
            ("{{customer_name}}", "{customer_name}"),
            ("open { brace", "open { brace"),
            ("close } brace", "close } brace"),
            ("", ""),
        ];
        for (t, want) in cases {
            assert_eq!(render(t, &v), want, "{t}");
        }
    }
}
