use retry_runtime::retry;

#[retry(fallback = backup)]
fn primary(prompt: &str, attempts: u32) -> Result<String, std::io::Error> {
    Ok(format!("{prompt} {attempts}"))
}

fn backup(prompt: &str) -> Result<String, std::io::Error> {
    Ok(prompt.to_owned())
}

#[retry(fallback = wrong_return)]
fn other(prompt: &str) -> Result<String, std::io::Error> {
    Ok(prompt.to_owned())
}

fn wrong_return(prompt: &str) -> Result<u32, std::io::Error> {
    Ok(prompt.len() as u32)
}

fn main() {}
