use retry_runtime::retry;

// Every bad argument of one attribute is reported in the same compile.
#[retry(
    max_attempts = 0,
    wiat = fixed(1s),
    on = [Client, Timeout(max_attempts = 200)],
    deadline = -5s,
    budget = MY_BUDGET,
    jitter = sometimes,
    max_retry_after = 2days,
)]
fn fetch() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {
    let _ = fetch();
}
