//! What `check-config` prints for a file that is fine: the settings that matter at a glance,
//! each repo and org with its secret count, and where the jobs live. Never a secret and never
//! a password: remote URLs are shown redacted, PostgreSQL by its hosts only.

use std::path::Path;

use crate::Config;

impl Config {
    /// The summary of this config, read from `path`: one line, then one per repo, org and
    /// `[cluster]`.
    pub fn summary(&self, path: &Path) -> String {
        let mut lines = vec![format!(
            "{}: ok ({} repos, listen {}, data dir {})",
            path.display(),
            self.repos.len(),
            self.listen,
            self.data_dir.display()
        )];
        for repo in &self.repos {
            let secrets = if repo.secrets.is_empty() {
                "NO SECRET: deliveries will be rejected".to_string()
            } else {
                format!("{} secret(s)", repo.secrets.len())
            };
            lines.push(format!(
                "  {} ({}) {} branches [{}], {secrets}",
                repo.spec.name,
                repo.provider,
                repo.spec.location.display(),
                repo.spec.branches.join(", ")
            ));
        }
        for org in &self.orgs {
            lines.push(format!(
                "  org {} ({}) {} repos [{}], {} secret(s)",
                org.owner,
                org.provider,
                pipeline::redact_url(&org.url_template),
                org.repos.join(", "),
                org.repo.secrets.len()
            ));
        }
        if let Some(cluster) = &self.cluster {
            lines.push(format!(
                "  jobs on PostgreSQL at {}, schema {}, pool {}",
                cluster.target, cluster.schema, cluster.pool_size
            ));
        }
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use crate::{Config, Overrides};
    use std::path::Path;

    #[test]
    fn the_summary_names_repos_orgs_and_cluster_without_secrets() {
        let text = "listen = \"127.0.0.1:9000\"\ndata_dir = \"/srv/cg\"\n\n\
            [[repos]]\nname = \"a\"\nprovider = \"github\"\nurl = \"https://git.example/a.git\"\n\
            secret = [\"s1\", \"s2\"]\nbranches = [\"main\", \"release/*\"]\n\n\
            [[repos]]\nname = \"b\"\nprovider = \"gitlab\"\nurl = \"file:///b\"\n\n\
            [[orgs]]\nprovider = \"github\"\nowner = \"acme\"\nsecret = \"s3\"\n\
            url = \"https://bot:hunter2@github.com/{full_name}.git\"\n\n\
            [cluster]\npostgres_url = \"host=db user=gw password=hunter2 dbname=jobs\"\n";
        let config =
            Config::from_str_with(text, Path::new("gw.toml"), &Overrides::default()).unwrap();
        let summary = config.summary(Path::new("gw.toml"));
        let lines: Vec<&str> = summary.lines().collect();
        assert_eq!(
            lines[0],
            "gw.toml: ok (2 repos, listen 127.0.0.1:9000, data dir /srv/cg)"
        );
        assert!(lines[1].starts_with("  a (github) "), "{summary}");
        assert!(
            lines[1].ends_with(" branches [main, release/*], 2 secret(s)"),
            "{summary}"
        );
        assert!(
            lines[2].ends_with("NO SECRET: deliveries will be rejected"),
            "{summary}"
        );
        assert!(lines[3].starts_with("  org acme (github) "), "{summary}");
        assert!(lines[3].ends_with(" repos [*], 1 secret(s)"), "{summary}");
        assert_eq!(
            lines[4],
            "  jobs on PostgreSQL at db:5432 database jobs user gw, schema context_gateway, pool 16"
        );
        assert!(!summary.contains("hunter2"), "{summary}");
        assert_eq!(lines.len(), 5);
    }
}
