package drill

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Status is the reply of /status.json.
type Status struct {
	Status string `json:"status"` // "Running!"
}

// Status asks the current Drillbit whether it runs.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	s, err := get[Status](ctx, c, "/status.json")
	if err != nil {
		return nil, fmt.Errorf("drill: status: %w", err)
	}
	return &s, nil
}

// Drillbit is one Drillbit of /cluster.json.
type Drillbit struct {
	Address      string `json:"address"`
	HTTPPort     string `json:"httpPort"`
	UserPort     string `json:"userPort"`
	ControlPort  string `json:"controlPort"`
	DataPort     string `json:"dataPort"`
	Version      string `json:"version"`
	Current      bool   `json:"current"` // the Drillbit that answered
	VersionMatch bool   `json:"versionMatch"`
	State        string `json:"state"` // ONLINE, QUIESCENT, OFFLINE
}

// Cluster is the reply of /cluster.json.
type Cluster struct {
	Drillbits          []Drillbit `json:"drillbits"`
	CurrentVersion     string     `json:"currentVersion"`
	MismatchedVersions []string   `json:"mismatchedVersions"`
	AuthEnabled        bool       `json:"authEnabled"`
}

// Cluster lists the Drillbits of the cluster and their versions, so callers
// can check the Drill version they talk to.
func (c *Client) Cluster(ctx context.Context) (*Cluster, error) {
	cl, err := get[Cluster](ctx, c, "/cluster.json")
	if err != nil {
		return nil, fmt.Errorf("drill: cluster: %w", err)
	}
	return &cl, nil
}

// StoragePlugin is a storage plugin configuration as /storage/{name}.json
// reads and writes it. Config is kept as raw JSON so that an update
// preserves every field this package does not know.
type StoragePlugin struct {
	Name   string          `json:"name"`
	Config json.RawMessage `json:"config"`
}

// StoragePlugin reads the configuration of the storage plugin name. An
// unknown plugin gives an error wrapping ErrNotFound.
func (c *Client) StoragePlugin(ctx context.Context, name string) (*StoragePlugin, error) {
	p, err := get[StoragePlugin](ctx, c, "/storage/"+url.PathEscape(name)+".json")
	if err != nil {
		return nil, fmt.Errorf("drill: read storage plugin %s: %w", name, err)
	}
	if len(p.Config) == 0 || string(p.Config) == "null" {
		return nil, fmt.Errorf("drill: read storage plugin %s: %w", name, ErrNotFound)
	}
	return &p, nil
}

// SetStoragePlugin creates or replaces the storage plugin p.Name. It needs a
// Drill administrator when auth is on.
func (c *Client) SetStoragePlugin(ctx context.Context, p *StoragePlugin) error {
	b, err := c.send(ctx, http.MethodPost, "/storage/"+url.PathEscape(p.Name)+".json", http.StatusOK, p)
	if err != nil {
		return fmt.Errorf("drill: save storage plugin %s: %w", p.Name, err)
	}
	var r struct {
		Result string `json:"result"`
	}
	if err := json.Unmarshal(b, &r); err != nil || !strings.EqualFold(r.Result, "success") {
		return fmt.Errorf("drill: save storage plugin %s: Drill answered %s", p.Name, truncate(string(b), maxErrorBody))
	}
	return nil
}

// EnsureWorkspace makes sure the file-system storage plugin (usually "dfs")
// has a workspace at location, writable or not, keeping every other setting
// and workspace as it is. It writes the plugin only when something changes,
// and reports whether it did.
func (c *Client) EnsureWorkspace(ctx context.Context, plugin, workspace, location string, writable bool) (changed bool, err error) {
	if workspace == "" || location == "" {
		return false, fmt.Errorf("drill: ensure workspace: workspace name and location are required")
	}
	p, err := c.StoragePlugin(ctx, plugin)
	if err != nil {
		return false, err // names the plugin already
	}
	var conf map[string]json.RawMessage
	if err := decodeJSON(p.Config, &conf); err != nil {
		return false, fmt.Errorf("drill: ensure workspace %s.%s: plugin config: %w", plugin, workspace, err)
	}
	var typ string
	if err := json.Unmarshal(conf["type"], &typ); err != nil || typ != "file" {
		return false, fmt.Errorf("drill: ensure workspace %s.%s: plugin %s is of type %q, not a file system", plugin, workspace, plugin, typ)
	}
	workspaces := map[string]map[string]json.RawMessage{}
	if raw, ok := conf["workspaces"]; ok && string(raw) != "null" {
		if err := decodeJSON(raw, &workspaces); err != nil {
			return false, fmt.Errorf("drill: ensure workspace %s.%s: workspaces: %w", plugin, workspace, err)
		}
	}
	ws := workspaces[workspace]
	if ws == nil {
		ws = map[string]json.RawMessage{
			"defaultInputFormat":          json.RawMessage("null"),
			"allowAccessOutsideWorkspace": json.RawMessage("false"),
		}
	}
	var curLoc string
	var curWritable bool
	_ = json.Unmarshal(ws["location"], &curLoc)
	_ = json.Unmarshal(ws["writable"], &curWritable)
	if curLoc == location && curWritable == writable {
		return false, nil
	}
	ws["location"], _ = json.Marshal(location)
	ws["writable"], _ = json.Marshal(writable)
	workspaces[workspace] = ws
	conf["workspaces"], err = json.Marshal(workspaces)
	if err != nil {
		return false, fmt.Errorf("drill: ensure workspace %s.%s: %w", plugin, workspace, err)
	}
	p.Config, err = json.Marshal(conf)
	if err != nil {
		return false, fmt.Errorf("drill: ensure workspace %s.%s: %w", plugin, workspace, err)
	}
	if err := c.SetStoragePlugin(ctx, p); err != nil {
		return false, err // names the plugin already
	}
	c.log.Info("drill workspace saved", "plugin", plugin, "workspace", workspace, "location", location, "writable", writable)
	return true, nil
}
