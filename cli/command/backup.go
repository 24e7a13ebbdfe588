package command

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/urfave/cli/v2"

	"github.com/cpx-node/cpx/node/backup"
	"github.com/cpx-node/cpx/node/config"
	"github.com/cpx-node/cpx/node/daemon"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

func backupCommand() *cli.Command {
	return &cli.Command{
		Name:      "backup",
		Usage:     "write an encrypted backup of a running node to FILE",
		ArgsUsage: "FILE",
		Description: "Streams a consistent snapshot of the node's store, encrypted under a key that\n" +
			"the node's keyring wraps, into FILE (written under a temporary name, then renamed),\n" +
			"with the node's configuration and wrapped keys, the per-case data keys (file\n" +
			"keyring; a Vault node keeps them in Vault) and the log of every purge so far.\n" +
			"Restore it with cpx restore. A case purged after this backup is purged again by a\n" +
			"restore that is given a newer backup's purge log (--purges-from): destroy backups\n" +
			"older than your erasure deadline (docs/operations.md).\n\n" +
			"Example:\n   cpx backup /backups/scso-2026-11-25.cpxb --dir ./node",
		Flags: clientFlags(),
		Action: func(c *cli.Context) error {
			a, err := args(c, 1, 1)
			if err != nil {
				return err
			}
			cn, err := dial(c)
			if err != nil {
				return err
			}
			out, err := createOut(a[0], c.App.Writer)
			if err != nil {
				return err
			}
			stream, err := cn.Back.Backup(c.Context, connect.NewRequest(&localv1.BackupRequest{}))
			if err != nil {
				out.Abort()
				return err
			}
			var n int64
			for stream.Receive() {
				k, err := out.Write(stream.Msg().Chunk)
				if err != nil {
					out.Abort()
					return err
				}
				n += int64(k)
			}
			if err := stream.Err(); err != nil {
				out.Abort()
				return err
			}
			if err := out.Commit(); err != nil {
				return err
			}
			fmt.Fprintf(c.App.ErrWriter, "backup written to %s (%d bytes)\n", a[0], n)
			return nil
		},
	}
}

func restoreCommand() *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "create a node directory from a backup, and check that every case opens",
		ArgsUsage: "FILE",
		Description: "Creates the node directory DIR (new or empty: nothing is ever overwritten) from\n" +
			"FILE. The restore is built in a temporary directory beside DIR and moved into place\n" +
			"only when complete: the backup authenticates with the keyring it was made with (the\n" +
			"passphrase of its file keyring, CPX_PASSPHRASE; or the same Vault transit key, at the\n" +
			"address you give with --vault-addr or CPX_VAULT_ADDR, never one read from the\n" +
			"backup), every purge the backup logged (and the logs of the newer backups given\n" +
			"with --purges-from) is applied again, and every case and version is opened with its\n" +
			"data key. If any case does not open, the restore fails and leaves nothing behind.\n\n" +
			"credentials.json is never in a backup: if the administrator's token was lost with\n" +
			"the old machine, issue a new one with cpx recover-admin --dir DIR.\n\n" +
			"Examples:\n   CPX_PASSPHRASE=... cpx restore /backups/scso.cpxb --dir ./node-restored\n" +
			"   cpx restore old.cpxb --dir ./node --purges-from newest.cpxb",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Usage: "the node `DIR` to create (new or empty; required)"},
			&cli.StringFlag{Name: "vault-addr", Usage: "Vault's `URL` (Vault nodes; else CPX_VAULT_ADDR)"},
			&cli.StringSliceFlag{Name: "purges-from", Usage: "a newer backup `FILE` of the same node whose purges to apply (repeatable)"},
			outputFlag(),
		},
		Action: func(c *cli.Context) error {
			a, err := args(c, 1, 1)
			if err != nil {
				return err
			}
			asJSON, err := jsonOutput(c)
			if err != nil {
				return err
			}
			dir := c.String("dir")
			if dir == "" {
				return usageErrorf("--dir is required")
			}
			f, err := os.Open(a[0])
			if err != nil {
				return err
			}
			head, err := backup.ReadMeta(f)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", a[0], err)
			}
			pass, err := keyringPassphrase(c, head.Keyring)
			if err != nil {
				return err
			}
			rep, err := daemon.Restore(c.Context, daemon.RestoreOptions{
				File: a[0], Dir: dir, Passphrase: pass, Environ: os.Environ(),
				VaultAddr: c.String("vault-addr"), PurgesFrom: c.StringSlice("purges-from"),
			})
			clear(pass)
			if err != nil {
				return err
			}
			if asJSON {
				return printPlainJSON(c.App.Writer, map[string]any{
					"dir": dir, "agency": rep.Meta.Agency, "backup_created": rep.Meta.Created, "cases": rep.Cases,
					"tombstones": rep.Tombstones, "purges_replayed": rep.Replayed, "case_keys": rep.CaseKeys,
				})
			}
			w := c.App.Writer
			fmt.Fprintf(w, "restored agency %s from the backup of %s into %s\n", rep.Meta.Agency, rep.Meta.Created.Format(time.RFC3339), dir)
			fmt.Fprintf(w, "checked: %d cases open (case keys from %s), %d purged", rep.Cases, rep.CaseKeys, rep.Tombstones)
			if len(rep.Replayed) > 0 {
				fmt.Fprintf(w, ", of which %d purged again: %s", len(rep.Replayed), strings.Join(rep.Replayed, ", "))
			}
			fmt.Fprintln(w)
			fmt.Fprintf(w, "start it with: cpx start --dir %s\n", dir)
			fmt.Fprintf(w, "no administrator token was restored: if it is lost, run cpx recover-admin --dir %s\n", dir)
			return nil
		},
	}
}

func recoverAdminCommand() *cli.Command {
	return &cli.Command{
		Name:  "recover-admin",
		Usage: "issue a new administrator token offline (the node stopped), for the keyring's holder",
		Description: "For when the administrator's token is lost (a restore onto a new machine: backups\n" +
			"never carry credentials.json). Whoever holds the keyring's passphrase (CPX_PASSPHRASE),\n" +
			"or the Vault credentials of a Vault node, opens the stopped node's store and issues a\n" +
			"new token to the agency administrator --user (created if missing). The token is\n" +
			"written to DIR/credentials.json (mode 0600), printed once, and the issue is audited\n" +
			"(user.token.recover). Earlier tokens stay valid until they expire.\n\n" +
			"Example:\n   CPX_PASSPHRASE=... cpx recover-admin --dir ./node",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Usage: "the node `DIR` (the node must be stopped)", Required: true},
			&cli.StringFlag{Name: "user", Usage: "the administrator's `NAME`", Value: daemon.AdminUser},
			outputFlag(),
		},
		Action: func(c *cli.Context) error {
			if _, err := args(c, 0, 0); err != nil {
				return err
			}
			asJSON, err := jsonOutput(c)
			if err != nil {
				return err
			}
			dir := c.String("dir")
			cfg, err := config.Load(dir, os.Environ(), nil)
			if err != nil {
				return err
			}
			pass, err := keyringPassphrase(c, cfg.Keyring.Kind)
			if err != nil {
				return err
			}
			creds, err := daemon.RecoverAdmin(c.Context, daemon.RecoverAdminOptions{Dir: dir, User: c.String("user"), Passphrase: pass, Environ: os.Environ()})
			clear(pass)
			if err != nil {
				return passphraseError(dir, err)
			}
			if asJSON {
				return printPlainJSON(c.App.Writer, map[string]string{"dir": dir, "user": creds.User, "token": creds.Token})
			}
			fmt.Fprintf(c.App.Writer, "Administrator %q, new token (shown once; also in %s/credentials.json, mode 0600):\n  %s\n", creds.User, dir, creds.Token)
			return nil
		},
	}
}

// printPlainJSON prints v (not a protocol message) as indented JSON.
func printPlainJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
