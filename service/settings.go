package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/internal/config"
)

// settingKeys maps the UI's settings to the keys of the settings file.
// It is a read-only table.
var settingKeys = []struct {
	name, key string
	get       func(config.Config) any
	set       func(*config.Config, Settings)
}{
	{"drill_urls", "drill.urls", func(c config.Config) any { return c.Drill.URLs }, func(c *config.Config, s Settings) { c.Drill.URLs = s.DrillURLs }},
	{"workspace", "drill.workspace", func(c config.Config) any { return c.Drill.Workspace }, func(c *config.Config, s Settings) { c.Drill.Workspace = s.Workspace }},
	{"auth", "drill.auth", func(c config.Config) any { return c.Drill.Auth }, func(c *config.Config, s Settings) { c.Drill.Auth = s.Auth }},
	{"user", "drill.user", func(c config.Config) any { return c.Drill.User }, func(c *config.Config, s Settings) { c.Drill.User = s.User }},
	{"ca_file", "drill.ca_file", func(c config.Config) any { return c.Drill.CAFile }, func(c *config.Config, s Settings) { c.Drill.CAFile = s.CAFile }},
	{"schedule", "schedule", func(c config.Config) any { return c.Schedule }, func(c *config.Config, s Settings) { c.Schedule = s.Schedule }},
	{"collections", "collections", func(c config.Config) any { return c.Collections }, func(c *config.Config, s Settings) { c.Collections = s.Collections }},
}

func settingsOf(c config.Config) Settings {
	s := Settings{
		DrillURLs: append([]string{}, c.Drill.URLs...), Workspace: c.Drill.Workspace, Auth: c.Drill.Auth,
		User: c.Drill.User, CAFile: c.Drill.CAFile, Schedule: c.Schedule, Collections: c.Collections,
	}
	return s
}

// locked returns the settings (by UI name) that cannot be changed from
// the app, with where each comes from: IT's managed file, an environment
// variable or a command-line flag.
func (s *Service) locked() (map[string]config.Origin, error) {
	origins := s.opts.Origins
	if origins == nil {
		var err error
		if origins, err = config.Origins(s.opts.Sources); err != nil {
			return nil, err
		}
	}
	out := map[string]config.Origin{}
	for _, k := range settingKeys {
		if o, ok := origins[k.key]; ok && o.Locked() {
			out[k.name] = o
		}
	}
	return out, nil
}

// Settings returns the settings in force, the locked ones and where the
// password is.
func (s *Service) Settings(context.Context) (SettingsView, error) {
	p, err := s.ready()
	if err != nil {
		return SettingsView{}, err
	}
	return s.view(p.cfg)
}

func (s *Service) view(c config.Config) (SettingsView, error) {
	lk, err := s.locked()
	if err != nil {
		return SettingsView{}, err
	}
	v := SettingsView{
		Settings:     settingsOf(c),
		Locked:       []string{},
		LockedBy:     map[string]string{},
		Password:     "none",
		ScheduleText: agent.DescribeSpec(c.Schedule),
		File:         s.opts.Sources.User,
	}
	for name, o := range lk {
		v.Locked = append(v.Locked, name)
		v.LockedBy[name] = o.String()
	}
	sort.Strings(v.Locked)
	if c.Drill.Auth != "none" && c.Drill.User != "" {
		if _, from, err := s.Secrets(c).DrillPassword(c.Drill); err == nil {
			v.Password = from
		}
	}
	return v, nil
}

// apply returns c with the UI's settings in place, checked.
func (s *Service) apply(c config.Config, in Settings) (config.Config, error) {
	for _, k := range settingKeys {
		k.set(&c, in)
	}
	if c.Drill.Auth == "" {
		c.Drill.Auth = "none"
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%s: %w", strings.TrimPrefix(err.Error(), "config: "), ErrInvalidInput)
	}
	if err := agent.CheckSpec(c.Schedule); err != nil {
		return c, fmt.Errorf("schedule: %v: %w", err, ErrInvalidInput)
	}
	return c, nil
}

// SaveSettings checks s, refuses changes to locked settings, writes the
// user's settings file and swaps in an agent built with the new settings.
func (s *Service) SaveSettings(ctx context.Context, in Settings) (SettingsView, error) {
	cur, err := s.ready()
	if err != nil {
		return SettingsView{}, err
	}
	next, err := s.apply(cur.cfg, in)
	if err != nil {
		return SettingsView{}, err
	}
	lk, err := s.locked()
	if err != nil {
		return SettingsView{}, err
	}
	set := map[string]any{}
	for _, k := range settingKeys {
		was, now := k.get(cur.cfg), k.get(next)
		if from, ok := lk[k.name]; ok {
			if !equalSetting(was, now) {
				return SettingsView{}, fmt.Errorf("%s is %s and cannot be changed here: %w", k.name, from, ErrInvalidInput)
			}
			continue
		}
		set[k.key] = now
	}
	newSet := cur.set
	if next.Collections != cur.cfg.Collections {
		if newSet, err = loadSchema(next.Collections); err != nil {
			return SettingsView{}, fmt.Errorf("collections: %v: %w", err, ErrInvalidInput)
		}
	}
	if s.opts.Sources.User == "" {
		return SettingsView{}, errors.New("there is no settings file to write: start fieldsync with --config FILE")
	}
	if err := config.UpdateFile(s.opts.Sources.User, set); err != nil {
		return SettingsView{}, err
	}
	s.log.Info("settings saved", "file", s.opts.Sources.User, "drill", next.Drill.URLs, "schedule", next.Schedule)
	if err := s.reconfigure(ctx, next, newSet); err != nil {
		return SettingsView{}, fmt.Errorf("the settings are saved but not in use yet: %w", err)
	}
	return s.view(next)
}

func equalSetting(a, b any) bool {
	as, aok := a.([]string)
	bs, bok := b.([]string)
	if aok && bok {
		return slices.Equal(as, bs)
	}
	return a == b
}

// SetPassword stores the Drill password of the configured user and
// rebuilds the agent so the next sync uses it.
func (s *Service) SetPassword(ctx context.Context, password string) (PasswordResult, error) {
	cur, err := s.ready()
	if err != nil {
		return PasswordResult{}, err
	}
	if cur.cfg.Drill.Auth == "none" || cur.cfg.Drill.User == "" {
		return PasswordResult{}, fmt.Errorf("set the authentication to basic or form and a Drill user first, then store the password: %w", ErrInvalidInput)
	}
	where, err := s.Secrets(cur.cfg).SetDrillPassword(cur.cfg.Drill, password)
	if err != nil {
		return PasswordResult{}, err
	}
	s.log.Info("Drill password stored", "user", cur.cfg.Drill.User, "in", where)
	if err := s.reconfigure(ctx, cur.cfg, cur.set); err != nil {
		return PasswordResult{StoredIn: where}, fmt.Errorf("the password is stored but not in use yet: %w", err)
	}
	return PasswordResult{StoredIn: where}, nil
}
