//! Every interactive question. Without a terminal the tool never asks: it needs --yes for
//! changes, and flags for everything else.

use std::io::IsTerminal;
use std::path::PathBuf;

use dialoguer::{Confirm, FuzzySelect, Input, MultiSelect, Password, Select};

use crate::domain::generate::Generator;
use crate::domain::not_generated::Reason;
use crate::domain::secret_value::SecretValue;
use crate::error::{Error, Result};

/// Questions need a person: stdin to read answers, stderr to show the question.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

fn prompt_error(e: dialoguer::Error) -> Error {
    match e {
        dialoguer::Error::IO(io) if io.kind() == std::io::ErrorKind::Interrupted => Error::Interrupted,
        dialoguer::Error::IO(io) => Error::Prompt(io.to_string()),
    }
}

/// Go ahead with a change? `--yes` answers for the user; without a terminal it must.
pub fn confirm_change(yes: bool, question: &str) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    if !interactive() {
        return Err(Error::NeedsYes);
    }
    Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()
        .map_err(prompt_error)
}

pub fn choose_keys(secret: &str, keys: &[String]) -> Result<Vec<String>> {
    let chosen = MultiSelect::new()
        .with_prompt(format!(
            "Keys of {secret} to rotate (space to select, enter to confirm)"
        ))
        .items(keys)
        .interact()
        .map_err(prompt_error)?;
    Ok(chosen.into_iter().map(|i| keys[i].clone()).collect())
}

/// Where the new value of one key comes from.
pub enum ValueSource {
    Generate(Generator),
    Typed,
    File(PathBuf),
}

/// Where the new value of `key` comes from. A key a random value would break (`issued`) is
/// offered typing first, and says why.
pub fn choose_source(key: &str, default: Generator, issued: Option<&Reason>) -> Result<ValueSource> {
    let generate = format!("generate ({default}, from the system's secure random generator)");
    let typed = "type it (hidden, asked twice)".to_string();
    let file = "read it from a file".to_string();
    let (options, prompt) = match issued {
        None => ([generate, typed, file], format!("New value of {key}")),
        Some(reason) => (
            [typed, file, format!("{generate}: it is {reason}")],
            format!("New value of {key} ({reason}: give the value it was issued)"),
        ),
    };
    let choice = Select::new()
        .with_prompt(prompt)
        .items(&options)
        .default(0)
        .interact()
        .map_err(prompt_error)?;
    let choice = match (issued, choice) {
        (None, c) => c,
        (Some(_), 0) => 1,
        (Some(_), 1) => 2,
        (Some(_), _) => 0,
    };
    Ok(match choice {
        0 => ValueSource::Generate(default),
        1 => ValueSource::Typed,
        _ => {
            let path: String = Input::new()
                .with_prompt(format!("File holding the new value of {key}"))
                .interact_text()
                .map_err(prompt_error)?;
            ValueSource::File(PathBuf::from(path))
        }
    })
}

/// A yes/no question, "no" by default (callers make sure there is a terminal).
pub fn confirm(question: &str) -> Result<bool> {
    Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()
        .map_err(prompt_error)
}

pub fn hidden_value(key: &str) -> Result<SecretValue> {
    let value = Password::new()
        .with_prompt(format!("Type the new value of {key} (hidden)"))
        .with_confirmation("Repeat it", "The two entries differ; try again")
        .interact()
        .map_err(prompt_error)?;
    Ok(SecretValue::new(value.into_bytes()))
}

/// A rotation was interrupted: finish it, undo it, or leave it.
pub enum InterruptedChoice {
    Resume,
    Abort,
    Leave,
}

pub fn interrupted_change(description: &str) -> Result<InterruptedChoice> {
    let options = [
        "finish it (restart and wait for the remaining workloads)",
        "roll it back (restore the previous data and restart)",
        "leave it for now",
    ];
    // The description quotes the journal (cluster text): cleaned like everything printed.
    let choice = Select::new()
        .with_prompt(crate::render::clean(description))
        .items(options)
        .default(0)
        .interact()
        .map_err(prompt_error)?;
    Ok(match choice {
        0 => InterruptedChoice::Resume,
        1 => InterruptedChoice::Abort,
        _ => InterruptedChoice::Leave,
    })
}

/// A line of text (empty allowed when `allow_empty`).
pub fn text(question: &str, allow_empty: bool) -> Result<String> {
    Input::<String>::new()
        .with_prompt(question)
        .allow_empty(allow_empty)
        .interact_text()
        .map_err(prompt_error)
}

/// One step of `seal --edit`.
pub enum EditAction {
    /// Add a new key, or replace an existing one.
    Set(String),
    Remove(String),
    Save,
    Quit,
}

pub fn edit_action(file: &str, keys: &[String]) -> Result<EditAction> {
    let options = [
        "add a key",
        "replace a key's value",
        "remove a key",
        "save and quit",
        "quit without saving",
    ];
    let choice = Select::new()
        .with_prompt(format!("{file}: keys {}", keys.join(", ")))
        .items(options)
        .default(0)
        .interact()
        .map_err(prompt_error)?;
    let pick = |verb: &str| -> Result<String> {
        let index = Select::new()
            .with_prompt(format!("Key to {verb}"))
            .items(keys)
            .default(0)
            .interact()
            .map_err(prompt_error)?;
        Ok(keys[index].clone())
    };
    Ok(match choice {
        0 => EditAction::Set(text("Name of the new key", false)?),
        1 if !keys.is_empty() => EditAction::Set(pick("replace")?),
        2 if !keys.is_empty() => EditAction::Remove(pick("remove")?),
        3 => EditAction::Save,
        4 => EditAction::Quit,
        _ => EditAction::Set(text("Name of the new key", false)?),
    })
}

/// One of `items`, found by typing part of it (kubectx-style). Returns its index.
pub fn pick(question: &str, items: &[String]) -> Result<usize> {
    pick_from(question, items, 0)
}

/// The same, starting on item `default`.
pub fn pick_from(question: &str, items: &[String], default: usize) -> Result<usize> {
    FuzzySelect::new()
        .with_prompt(question)
        .items(items)
        .default(default)
        .max_length(15)
        .interact()
        .map_err(prompt_error)
}
