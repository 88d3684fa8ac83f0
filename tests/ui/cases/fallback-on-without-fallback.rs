use retry_runtime::retry;

#[retry(fallback_on = [Server])]
fn call() -> Result<u32, std::io::Error> {
    Ok(1)
}

#[retry(fallback = backup, fallback_on = [Server, Clinet])]
fn typo() -> Result<u32, std::io::Error> {
    Ok(1)
}

#[retry(fallback = "backup")]
fn not_a_path() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn backup() -> Result<u32, std::io::Error> {
    Ok(2)
}

fn main() {}
