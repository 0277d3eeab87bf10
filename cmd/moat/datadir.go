package main

import (
	"flag"

	"github.com/moatmq/moat/internal/config"
)

// dataDirFlags are the --config and --data-dir flags of the operator
// commands that find their files (bans, tokens, the admin socket) through
// the broker's configuration.
type dataDirFlags struct {
	config, dataDir *string
}

// addDataDirFlags declares --config (what for) and --data-dir on fl.
func addDataDirFlags(fl *flag.FlagSet, what string) dataDirFlags {
	return dataDirFlags{
		config:  fl.String("config", "", what),
		dataDir: fl.String("data-dir", "", "data directory (default: the configuration's, or "+config.DefaultDataDir+")"),
	}
}

// load is the configuration the flags name: the file's (or the defaults),
// with --data-dir over its data_dir.
func (f dataDirFlags) load() (*config.Config, error) {
	cfg := config.Default()
	if *f.config != "" {
		c, err := config.Load(*f.config)
		if err != nil {
			return nil, err
		}
		cfg = c
	}
	if *f.dataDir != "" {
		cfg.DataDir = *f.dataDir
	}
	return cfg, nil
}
