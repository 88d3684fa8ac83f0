use retry_runtime::retry;

#[retry(wait = fibonacci(1s, 60s))]
fn fetch() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {
    let _ = fetch();
}
