//! `upshift report JOURNAL`: the rollout told from its journal, as Markdown, text or
//! JSON on standard output.

use color_eyre::eyre::Result;
use upshift::report::{self, Report};

use crate::cli::{Format, ReportArgs};

pub fn report(args: &ReportArgs) -> Result<()> {
    let loaded = report::read(&args.journal)?;
    let r = Report::from_entries(&args.journal.display().to_string(), &loaded);
    let out = match args.format {
        Format::Markdown => report::markdown::render(&r),
        Format::Text => report::text::render(&r),
        Format::Json => serde_json::to_string_pretty(&r)? + "\n",
    };
    print!("{out}");
    Ok(())
}
