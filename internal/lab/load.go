package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// VyattaPair is the lab's Vyatta 6.x router pair: one config.boot a router,
// in dir (the repository's testdata/lab), written the way a Vyatta 6.6 router
// saves it. Loaded with Options.ConfigFiles, they configure the same
// failover as ConfigLines, in the older syntax: VRRP under interfaces
// ethernet ... vrrp vrrp-group, multicast conntrack-sync (Vyatta 6.x had
// no unicast peer), and firewall, nat, system and service ssh subtrees the
// import skips.
func VyattaPair(dir string) map[string]string {
	return map[string]string{
		"r1": filepath.Join(dir, "vyatta6-lab-r1.boot"),
		"r2": filepath.Join(dir, "vyatta6-lab-r2.boot"),
	}
}

// checkConfigFiles makes sure files names a readable file for each
// router, before the lab builds anything.
func checkConfigFiles(files map[string]string) error {
	for _, name := range []string{"r1", "r2"} {
		f, ok := files[name]
		if !ok {
			return fmt.Errorf("config files: none for %s (both routers need one)", name)
		}
		fi, err := os.Stat(f)
		if err != nil {
			return fmt.Errorf("config file of %s: %w", name, err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("config file of %s: %s is not a regular file", name, f)
		}
	}
	for name := range files {
		if name != "r1" && name != "r2" {
			return fmt.Errorf("config files: no router %q in the lab (r1, r2)", name)
		}
	}
	return nil
}

// LoadConfig configures the router from a config.boot file the way an
// operator moving a router would: the file is copied into the router's
// config directory, then `ctsync configure` runs `load NAME` and
// `commit`. The load migrates the file from whatever wrote it and lists
// what it skipped; LoadConfig returns that output.
func (r *Router) LoadConfig(ctx context.Context, src string) (string, error) {
	data, err := os.ReadFile(src)
	if err != nil {
		return "", fmt.Errorf("%s: reading config file: %w", r.Name, err)
	}
	dir := r.Root.ConfigDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("%s: %w", r.Name, err)
	}
	// A relative name: load resolves it in the config directory, as
	// `load config.boot` does on a router.
	name := filepath.Base(src)
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		return "", fmt.Errorf("%s: copying %s into %s: %w", r.Name, src, dir, err)
	}
	out, errb, err := r.ctsync(ctx, []byte(strings.Join(LoadLines(name), "\n")+"\n"), "configure")
	if err != nil {
		return string(out), err
	}
	return strings.TrimSpace(string(out) + "\n" + string(errb)), nil
}

// LoadLines are the configure commands that load and commit a file.
func LoadLines(file string) []string {
	return []string{"load " + file, "commit"}
}
