use super::*;

fn run(files: &[(&str, &str)]) -> Imported {
    let inputs: Vec<Input> = files.iter().map(|(name, text)| Input { name, text }).collect();
    import(&inputs, "app").expect("imports")
}
