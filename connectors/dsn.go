package connectors

import (
	"fmt"
	"os"
	"strings"
)

// DSN reads a database source's connection string from file when set,
// else from the environment variable env. It also says where the string
// came from ("file …", "environment variable …") for messages, which must
// never show the string itself. connector names the connector in errors.
func DSN(source, connector, file, env string) (dsn, from string, err error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", "", fmt.Errorf("source %s: %s: dsn_file: %w", source, connector, err)
		}
		d := strings.TrimSpace(string(b))
		if d == "" {
			return "", "", fmt.Errorf("source %s: %s: dsn_file %s is empty", source, connector, file)
		}
		return d, "file " + file, nil
	}
	d := strings.TrimSpace(os.Getenv(env))
	if d == "" {
		return "", "", fmt.Errorf("source %s: %s: environment variable %s is not set (it must hold the DSN; or set option dsn_file)", source, connector, env)
	}
	return d, "environment variable " + env, nil
}
