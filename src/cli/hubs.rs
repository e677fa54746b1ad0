//! `hubscope hubs` and `hubscope groups`: a namespace's hubs and consumer groups, listed,
//! created and deleted through its management API.

use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use hubscope::management::{Access, HubInfo, ManagementClient};
use hubscope::profiles::ResourceManagerSettings;

use super::target::load_profile;

/// Where the namespace is: flags every `hubs` and `groups` command takes, before or after its
/// action.
#[derive(Debug, Args)]
pub struct NamespaceArgs {
    /// A namespace-level (or hub-level) SAS connection string whose key has the Manage right.
    #[arg(
        long,
        global = true,
        env = "HUBSCOPE_CONNECTION_STRING",
        hide_env_values = true
    )]
    connection_string: Option<String>,
    /// A profile saved in the app, by name.
    #[arg(long, global = true)]
    profile: Option<String>,
    /// The management API's URL, when it is not the namespace's (`https://<namespace>`) or the
    /// emulator's (`http://<host>:5300`).
    #[arg(long, global = true, value_name = "URL")]
    management_endpoint: Option<String>,
    /// The namespace's subscription in Azure Resource Manager. With --resource-group, hubs are
    /// managed there when the namespace refuses the credential (sign in with `az login`, or use
    /// an Entra ID profile).
    #[arg(long, global = true, value_name = "ID", requires = "resource_group")]
    subscription: Option<String>,
    /// The namespace's resource group, with --subscription.
    #[arg(long, global = true, value_name = "NAME", requires = "subscription")]
    resource_group: Option<String>,
    /// Another Resource Manager than the public cloud's (`https://management.azure.com`).
    #[arg(long, global = true, value_name = "URL", requires = "subscription")]
    arm_endpoint: Option<String>,
    /// Seconds to wait for each answer.
    #[arg(long, global = true, default_value_t = 10)]
    timeout_secs: u64,
}

impl NamespaceArgs {
    fn client(&self) -> anyhow::Result<ManagementClient> {
        let endpoint = self.management_endpoint.as_deref();
        let access = match (&self.connection_string, &self.profile) {
            (Some(_), Some(_)) => anyhow::bail!("give --connection-string or --profile, not both"),
            (Some(cs), None) => Access::from_connection_string(cs, endpoint)?,
            (None, Some(name)) => Access::from_profile(&load_profile(name)?, endpoint)?,
            (None, None) => {
                anyhow::bail!("name the namespace: --connection-string CS or --profile NAME")
            }
        };
        let access = match (&self.subscription, &self.resource_group) {
            (Some(subscription_id), Some(resource_group)) => {
                access.with_resource_manager(&ResourceManagerSettings {
                    subscription_id: subscription_id.clone(),
                    resource_group: resource_group.clone(),
                    endpoint: self.arm_endpoint.clone(),
                })?
            }
            _ => access,
        };
        let timeout = Duration::from_secs(self.timeout_secs.max(1));
        Ok(ManagementClient::new(access, timeout)?)
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct HubsArgs {
    #[command(flatten)]
    namespace: NamespaceArgs,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    #[command(subcommand)]
    action: Option<HubsAction>,
}

#[derive(Debug, Subcommand)]
enum HubsAction {
    /// List every hub with its partitions, retention and consumer groups (the default).
    List,
    /// Create a hub.
    Create {
        name: String,
        /// 1 to 32.
        #[arg(long, default_value_t = 4)]
        partitions: u32,
        /// How long events are kept, in whole days as the service keeps them: 1d to 90d (or 24h,
        /// 48h, ...).
        #[arg(long, default_value = "1d", value_parser = whole_days)]
        retention: u32,
    },
    /// Delete a hub with all its events and consumer groups.
    Delete { name: String },
}

#[derive(Debug, Args)]
pub struct GroupsArgs {
    #[command(flatten)]
    namespace: NamespaceArgs,
    #[command(subcommand)]
    action: GroupsAction,
}

#[derive(Debug, Subcommand)]
enum GroupsAction {
    /// A hub's consumer groups, one a line.
    List {
        #[arg(long)]
        hub: String,
    },
    /// Create a consumer group.
    Create {
        #[arg(long)]
        hub: String,
        name: String,
    },
    /// Delete a consumer group.
    Delete {
        #[arg(long)]
        hub: String,
        name: String,
    },
}

/// `--retention`: a duration of whole days.
fn whole_days(text: &str) -> anyhow::Result<u32> {
    const DAY: u64 = 86_400;
    let duration = hubscope::emulator::config::parse_duration(text)?;
    let seconds = duration.as_secs();
    anyhow::ensure!(
        seconds % DAY == 0 && (1..=90).contains(&(seconds / DAY)),
        "`{text}`: Event Hubs keeps events for whole days, 1d to 90d"
    );
    Ok(u32::try_from(seconds / DAY)?)
}

pub fn run_hubs(args: &HubsArgs) -> anyhow::Result<()> {
    let client = args.namespace.client()?;
    let runtime = super::runtime()?;
    match &args.action {
        None | Some(HubsAction::List) => {
            let namespace = runtime.block_on(client.namespace())?;
            match args.output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&namespace)?),
                Output::Text => {
                    print_hubs(&namespace.namespace, client.base_url(), &namespace.hubs);
                }
            }
        }
        Some(HubsAction::Create {
            name,
            partitions,
            retention,
        }) => {
            let hub = runtime
                .block_on(client.create_hub(name, *partitions, *retention))
                .with_context(|| format!("hub '{name}' was not created"))?;
            match args.output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&hub)?),
                Output::Text => println!(
                    "created hub {} ({} partitions, retention {} d)",
                    hub.name,
                    hub.partition_count,
                    hub.retention_secs / 86_400
                ),
            }
        }
        Some(HubsAction::Delete { name }) => {
            runtime
                .block_on(client.delete_hub(name))
                .with_context(|| format!("hub '{name}' was not deleted"))?;
            println!("deleted hub {name}");
        }
    }
    Ok(())
}

pub fn run_groups(args: &GroupsArgs) -> anyhow::Result<()> {
    let client = args.namespace.client()?;
    let runtime = super::runtime()?;
    match &args.action {
        GroupsAction::List { hub } => {
            for group in runtime.block_on(client.list_groups(hub))? {
                println!("{group}");
            }
        }
        GroupsAction::Create { hub, name } => {
            runtime
                .block_on(client.create_group(hub, name))
                .with_context(|| format!("consumer group '{name}' was not created"))?;
            println!("created consumer group {name} on hub {hub}");
        }
        GroupsAction::Delete { hub, name } => {
            runtime
                .block_on(client.delete_group(hub, name))
                .with_context(|| format!("consumer group '{name}' was not deleted"))?;
            println!("deleted consumer group {name} from hub {hub}");
        }
    }
    Ok(())
}

fn print_hubs(namespace: &str, url: &str, hubs: &[HubInfo]) {
    println!("namespace {namespace} ({url}): {} hub(s)", hubs.len());
    if hubs.is_empty() {
        return;
    }
    let width = hubs.iter().map(|h| h.name.len()).max().unwrap_or(3).max(3);
    println!(
        "{:<width$}  {:>10}  {:>9}  {:<8}  {:<20}  consumer groups",
        "hub", "partitions", "retention", "status", "created"
    );
    for hub in hubs {
        println!(
            "{:<width$}  {:>10}  {:>7} d  {:<8}  {:<20}  {}",
            hub.name,
            hub.partition_count,
            hub.retention_secs / 86_400,
            hub.status,
            hub.created_at
                .as_deref()
                .map_or("-", |t| t.get(..19).unwrap_or(t)),
            hub.consumer_groups.join(", ")
        );
    }
}
