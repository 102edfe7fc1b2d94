// Package deps pins the design card's libraries in go.mod while the packages that use them are
// being written in parallel. Delete once every import below has a real user.
package deps

import (
	_ "github.com/charmbracelet/lipgloss"
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/olekukonko/tablewriter"
	_ "github.com/spf13/cobra/doc"
	_ "github.com/zalando/go-keyring"
	_ "golang.org/x/crypto/bcrypt"
)
