// Generation. Runs only on a model that parsed and validated without errors;
// on any error the user's function is emitted unchanged, with the errors
// beside it, so that nothing else fails because the function went missing.

mod attempt;
mod params;
mod policy;
mod self_rename;

use crate::args::RetryArgs;
use crate::ctxt::Ctxt;
use crate::item::RetryFn;
use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{quote, ToTokens};

pub(crate) fn retry(args: TokenStream, item: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let args = RetryArgs::from_tokens(&cx, args);
    let func = match syn::parse2::<RetryFn>(item.clone()) {
        Ok(func) => {
            func.validate(&cx);
            args.validate(&cx, &func);
            Some(func)
        }
        Err(err) => {
            cx.syn_error(err);
            None
        }
    };
    match (cx.check(), func) {
        (Ok(()), Some(func)) => generate(&args, func),
        (Err(err), _) => with_errors(&item, &err),
        (Ok(()), None) => item,
    }
}

// The item as written, then the errors: `compile_error!{..}` is accepted
// wherever the item was (module, impl or trait impl), so nothing else breaks.
fn with_errors(item: &TokenStream, err: &syn::Error) -> TokenStream {
    let errors = err.to_compile_error();
    quote!(#item #errors)
}

fn generate(args: &RetryArgs, func: RetryFn) -> TokenStream {
    let runtime = Runtime {
        krate: args.krate.as_ref().map_or_else(
            || quote!(::retry_runtime),
            |arg| arg.value.to_token_stream(),
        ),
    };
    attempt::expand(args, func, &runtime)
}

// Where the runtime is: `::retry_runtime`, or what `crate = path` says.
pub(crate) struct Runtime {
    krate: TokenStream,
}

impl Runtime {
    // `::retry_runtime::__private`, spans as written.
    pub(crate) fn private(&self) -> TokenStream {
        let krate = &self.krate;
        quote!(#krate::__private)
    }

    // The same path with every token at `span`, so that an error about the
    // item it names points at a user token.
    pub(crate) fn private_at(&self, span: Span) -> TokenStream {
        respan(self.private(), span)
    }
}

pub(crate) fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            match &tt {
                TokenTree::Group(g) => {
                    let mut group =
                        proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                    group.set_span(span);
                    tt = TokenTree::Group(group);
                }
                // `$crate` (from a `macro_rules!` that wrote the function)
                // resolves through its span: keep it.
                TokenTree::Ident(ident) if ident == "$crate" => {}
                _ => tt.set_span(span),
            }
            tt
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::retry;
    use quote::quote;

    fn expand(args: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> String {
        retry(args, item).to_string()
    }

    #[test]
    fn errors_keep_the_function() {
        let item = quote!(
            fn f() -> Result<u32, E> {
                Ok(1)
            }
        );
        let out = expand(
            quote!(max_attempts = 0, jitter = some, wiat = fixed(1s)),
            item.clone(),
        );
        assert!(out.starts_with(&item.to_string()), "{out}");
        assert_eq!(out.matches("compile_error").count(), 3, "{out}");
        assert!(out.contains("did you mean `wait`?"), "{out}");
    }

    #[test]
    fn only_given_keys_are_emitted() {
        let out = expand(
            quote!(
                max_attempts = 5,
                wait = exponential(1, 60),
                on = [RateLimit, Timeout(max_attempts = 2)]
            ),
            quote!(
                async fn f(x: String) -> Result<u32, E> {
                    Ok(1)
                }
            ),
        );
        for expected in [
            ". max_attempts (5)",
            "Wait :: exponential (:: retry_runtime :: __private :: Duration :: from_nanos (1000000000) , :: retry_runtime :: __private :: Duration :: from_nanos (60000000000))",
            ". with (:: retry_runtime :: __private :: ErrorClass :: RateLimit)",
            ". class_max_attempts (:: retry_runtime :: __private :: ErrorClass :: Timeout , 2)",
            "Call :: run_async (& mut __retry_call ,",
            "Call :: sleep_async (& mut __retry_call , __retry_d) . await",
            "let x = __retry_clone0 ;",
            "# [allow (clippy :: needless_pass_by_value)]",
        ] {
            assert!(out.contains(expected), "missing `{expected}` in {out}");
        }
        for absent in [
            "jitter",
            "deadline",
            "attempt_timeout",
            "max_retry_after",
            "check_timeout_capable",
        ] {
            assert!(!out.contains(absent), "unexpected `{absent}` in {out}");
        }
    }

    #[test]
    fn by_value_self_is_renamed_outside_nested_items() {
        let out = expand(
            quote!(),
            quote!(
                fn f(self) -> Result<u32, E> {
                    let a = self.a;
                    println!("{}", self.b);
                    let p = self::helper();
                    fn nested(x: &S) -> u32 {
                        x.method(self)
                    }
                    Ok(a)
                }
            ),
        );
        assert!(out.contains("let a = __retry_self . a"), "{out}");
        assert!(
            out.contains("println ! (\"{}\" , __retry_self . b)"),
            "{out}"
        );
        assert!(out.contains("self :: helper ()"), "{out}");
        assert!(out.contains("x . method (self)"), "{out}");
    }

    #[test]
    fn an_item_that_is_not_a_function_is_named() {
        for (item, message) in [
            (
                quote!(
                    pub struct Client;
                ),
                "`#[retry]` goes on a `fn`, not on a struct",
            ),
            (
                quote!(
                    impl<T> Display for Client<T> {}
                ),
                "`#[retry]` goes on a `fn`, not on an `impl` block; put it on each method that should retry",
            ),
            (
                quote!(
                    mod client {}
                ),
                "`#[retry]` goes on a `fn`, not on a module; put it on each function that should retry",
            ),
            (
                quote!(
                    const LIMIT: u32 = 3;
                ),
                "`#[retry]` goes on a `fn`, not on a `const`",
            ),
            // syn reads a generic `const` only as tokens: the error says where
            // it stopped being a function.
            (
                quote!(
                    const LIMIT<T>: u32 = 3;
                ),
                "`#[retry]` goes on a `fn`: expected `fn`",
            ),
        ] {
            let out = expand(quote!(), item.clone());
            assert!(out.starts_with(&item.to_string()), "{out}");
            let expected = quote!(::core::compile_error! { #message }).to_string();
            assert!(out.ends_with(&expected), "expected `{expected}` in {out}");
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        for (args, item) in [
            (
                quote!(,),
                quote!(
                    fn f() -> Result<(), E> {}
                ),
            ),
            (
                quote!(max_attempts),
                quote!(
                    fn f() -> Result<(), E> {}
                ),
            ),
            (
                quote!(max_attempts = ),
                quote!(
                    fn f() -> Result<(), E> {}
                ),
            ),
            (
                quote!(= 5),
                quote!(
                    fn f() -> Result<(), E> {}
                ),
            ),
            (
                quote!(on = RateLimit),
                quote!(
                    fn f() -> Result<(), E> {}
                ),
            ),
            (
                quote!(on = [RateLimit(3)]),
                quote!(
                    fn f() -> Result<(), E> {}
                ),
            ),
            (
                quote!(wait = 5),
                quote!(
                    fn f() -> Result<(), E> {}
                ),
            ),
            (
                quote!(wait = a::b(1)),
                quote!(
                    fn f() -> Result<(), E> {}
                ),
            ),
            (
                quote!(deadline = 1e999s),
                quote!(
                    fn f() -> Result<(), E> {}
                ),
            ),
            (
                quote!(deadline = "1s"),
                quote!(
                    fn f() -> Result<(), E> {}
                ),
            ),
            (
                quote!(crate = ::a::<T>),
                quote!(
                    fn f() -> Result<(), E> {}
                ),
            ),
            (
                quote!(),
                quote!(
                    struct S;
                ),
            ),
            (
                quote!(),
                quote!(
                    fn f() -> Result<(), E>;
                ),
            ),
            (
                quote!(),
                quote!(
                    fn f() -> ! {
                        loop {}
                    }
                ),
            ),
            (
                quote!(),
                quote!(
                    fn f() -> impl Future<Output = Result<(), E>> {
                        async { Ok(()) }
                    }
                ),
            ),
        ] {
            let out = expand(args, item);
            assert!(out.contains("compile_error"), "{out}");
        }
    }
}
