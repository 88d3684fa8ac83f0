// Checks that need more than one key, or the function itself. Single-key
// checks (`max_attempts = 0`, unknown units, ...) happen while parsing.

use crate::args::RetryArgs;
use crate::ctxt::Ctxt;
use crate::item::{self, RetryFn};
use crate::wait::{WaitKind, WaitSpec};
use syn::{ReturnType, Type};

const MUST_RETURN_RESULT: &str = "`#[retry]` functions must return `Result<T, E>`";

impl RetryArgs {
    pub(crate) fn validate(&self, cx: &Ctxt, func: &RetryFn) {
        if let Some(wait) = &self.wait {
            wait.value.validate(cx);
        }
        // jitter = full, wait = decorrelated(..)
        if let (Some(jitter), Some(wait)) = (&self.jitter, &self.wait) {
            if wait.value.kind == WaitKind::Decorrelated {
                cx.error_at(
                    jitter.key.span(),
                    "`jitter` cannot be combined with `wait = decorrelated(..)`, which carries its own randomness",
                );
            }
        }
        // fallback_on = [..] without fallback = ..
        if let (Some(on), None) = (&self.fallback_on, &self.fallback) {
            cx.error_at(
                on.key.span(),
                "`fallback_on` needs a `fallback = path` to fall back to",
            );
        }
        // expected_tokens = .. without admission = ..
        if let (Some(tokens), None) = (&self.expected_tokens, &self.admission) {
            cx.error_at(
                tokens.key.span(),
                "`expected_tokens` needs an `admission = GATE` to charge them to",
            );
        }
        // attempt_timeout = 30s on a sync fn
        if let Some(timeout) = &self.attempt_timeout {
            if !func.is_async() {
                cx.error_at(
                    timeout.key.span(),
                    "`attempt_timeout` needs an `async fn`: a running sync call cannot be cut short",
                );
            }
        }
    }
}

impl WaitSpec {
    fn validate(&self, cx: &Ctxt) {
        if let Some((lower, min, max)) = self.bounds() {
            if min.nanos > max.nanos {
                cx.error_spanned_by(
                    &min.lit,
                    format!(
                        "the {lower} wait `{}` is longer than the maximum `{}`",
                        min.text(),
                        max.text()
                    ),
                );
            }
        }
    }
}

impl RetryFn {
    pub(crate) fn validate(&self, cx: &Ctxt) {
        let sig = &self.sig;
        if let Some(constness) = &sig.constness {
            cx.error_at(
                constness.span,
                "`#[retry]` cannot be applied to a `const fn`: waiting between attempts cannot happen at compile time",
            );
        }
        if let Some(abi) = &sig.abi {
            cx.error_at(
                abi.extern_token.span,
                "`#[retry]` cannot be applied to an `extern` fn; retry a Rust fn and call it from the `extern` one",
            );
        }
        if let Some(receiver) = sig.receiver() {
            if item::self_kind(receiver).is_none() {
                cx.error_spanned_by(
                    receiver,
                    "`#[retry]` does not know this kind of `self` yet; take `self`, `&self`, `&mut self` or `self: Type`",
                );
            }
        }
        match (&sig.output, self.return_type()) {
            (ReturnType::Default, _) => cx.error_at(
                sig.ident.span(),
                format!("{MUST_RETURN_RESULT}; add `-> Result<T, E>`"),
            ),
            (ReturnType::Type(_, ty), None) => cx.error_spanned_by(ty, MUST_RETURN_RESULT),
            (_, Some(ty)) => match ty {
                Type::Never(_) => cx.error_spanned_by(ty, MUST_RETURN_RESULT),
                Type::ImplTrait(_) => cx.error_spanned_by(
                    ty,
                    format!("{MUST_RETURN_RESULT}, written out: for a future, write an `async fn`"),
                ),
                // Anything else, aliases such as `io::Result<T>` included, is
                // left to the `check_return::<#ret>()` trait check.
                _ => {}
            },
        }
    }
}
