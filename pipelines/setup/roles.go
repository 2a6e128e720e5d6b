package setup

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"

	"github.com/jackc/pgx/v5"
)

// Roles are a deployment's least-privilege PostgreSQL roles.
//
//   - App is the order service's role: it logs in, owns the deployment's schema (and so the
//     tables it creates there) and nothing else: no superuser, no CREATEDB or CREATEROLE, no
//     replication, nothing in other schemas.
//   - CDC is the role Debezium logs in as: REPLICATION (to create and read its slot), USAGE on
//     the schema, SELECT on the outbox and heartbeat tables, and INSERT/UPDATE on the heartbeat
//     (the connector's heartbeat query writes it). It reads no order table and writes no outbox
//     row. The publication it streams from is made by the administrator, so the connector runs
//     with publication.autocreate.mode=disabled.
//
// Passwords go to PostgreSQL only (it stores SCRAM verifiers); nothing here logs them.
type Roles struct {
	App, AppPassword string
	CDC, CDCPassword string
	// CDCPasswordRef is how the connector configuration names the CDC password for the Connect
	// worker to resolve (default DefaultCDCPasswordRef); the password itself never goes there.
	CDCPasswordRef string
}

// DefaultCDCPasswordRef is the replication role's password as the Connect worker's environment
// holds it (the native stack and compose set ORDERFLOW_PG_CDC_PASSWORD there).
const DefaultCDCPasswordRef = "${env:ORDERFLOW_PG_CDC_PASSWORD}"

func (r Roles) cdcPasswordRef() string {
	if r.CDCPasswordRef != "" {
		return r.CDCPasswordRef
	}
	return DefaultCDCPasswordRef
}

var roleName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

func (r Roles) validate() error {
	var errs []error
	for _, role := range []struct{ name, password string }{{r.App, r.AppPassword}, {r.CDC, r.CDCPassword}} {
		if !roleName.MatchString(role.name) {
			errs = append(errs, fmt.Errorf("role name %q: want lower-case letters, digits and _", role.name))
		}
		if len(role.password) < 16 {
			errs = append(errs, fmt.Errorf("role %s: password shorter than 16 characters", role.name))
		}
	}
	if r.App == r.CDC {
		errs = append(errs, errors.New("the application and replication roles must differ"))
	}
	return errors.Join(errs...)
}

// CreateRoles creates (or updates the attributes and passwords of) both roles and gives schema
// to the App role, creating it when missing; the App role's search_path is set to schema. Run
// it with an administrator's connection, before the tables are migrated as the App role
// (AppDSN), and GrantCapture after.
func CreateRoles(ctx context.Context, admin *pgx.Conn, schema string, r Roles) error {
	if err := r.validate(); err != nil {
		return fmt.Errorf("postgres roles: %w", err)
	}
	if !roleName.MatchString(schema) {
		return fmt.Errorf("postgres roles: invalid schema name %q", schema)
	}
	const attrs = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT"
	if err := upsertRole(ctx, admin, r.App, r.AppPassword, attrs+" NOREPLICATION"); err != nil {
		return err
	}
	if err := upsertRole(ctx, admin, r.CDC, r.CDCPassword, attrs+" REPLICATION"); err != nil {
		return err
	}
	steps := []string{
		`CREATE SCHEMA IF NOT EXISTS ` + schema + ` AUTHORIZATION ` + r.App,
		`ALTER SCHEMA ` + schema + ` OWNER TO ` + r.App,
		`ALTER ROLE ` + r.App + ` SET search_path = ` + schema,
	}
	for _, sql := range steps {
		if _, err := admin.Exec(ctx, sql); err != nil {
			return fmt.Errorf("postgres roles: %s: %w", sql, err)
		}
	}
	return adoptSchema(ctx, admin, schema, r.App)
}

// adoptSchema gives app the tables and functions already in schema (made by an earlier setup as
// another user), so that the application role owns everything in its schema. Members of an
// extension are left alone.
func adoptSchema(ctx context.Context, admin *pgx.Conn, schema, app string) error {
	rows, err := admin.Query(ctx, `
		SELECT format('ALTER TABLE %I.%I OWNER TO %I', schemaname, tablename, $2::text)
		  FROM pg_tables WHERE schemaname = $1 AND tableowner <> $2
		UNION ALL
		SELECT format('ALTER FUNCTION %I.%I(%s) OWNER TO %I', n.nspname, p.proname,
		              pg_get_function_identity_arguments(p.oid), $2::text)
		  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		 WHERE n.nspname = $1 AND pg_get_userbyid(p.proowner) <> $2
		   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')`, schema, app)
	if err != nil {
		return fmt.Errorf("postgres roles: list what %s holds: %w", schema, err)
	}
	stmts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("postgres roles: list what %s holds: %w", schema, err)
	}
	for _, sql := range stmts {
		if _, err := admin.Exec(ctx, sql); err != nil {
			return fmt.Errorf("postgres roles: %s: %w", sql, err)
		}
	}
	return nil
}

// GrantCapture gives the CDC role what Debezium needs on schema's outbox, once the App role has
// created the tables, and creates publication over the outbox and heartbeat tables when it does
// not exist. Run it with an administrator's connection.
func GrantCapture(ctx context.Context, admin *pgx.Conn, schema, publication string, r Roles) error {
	if !roleName.MatchString(schema) || !roleName.MatchString(publication) || !roleName.MatchString(r.CDC) {
		return fmt.Errorf("postgres roles: invalid schema %q, publication %q or role %q", schema, publication, r.CDC)
	}
	tables := schema + ".outbox, " + schema + ".outbox_heartbeat"
	steps := []string{
		`GRANT USAGE ON SCHEMA ` + schema + ` TO ` + r.CDC,
		`GRANT SELECT ON ` + tables + ` TO ` + r.CDC,
		`GRANT INSERT, UPDATE ON ` + schema + `.outbox_heartbeat TO ` + r.CDC,
	}
	for _, sql := range steps {
		if _, err := admin.Exec(ctx, sql); err != nil {
			return fmt.Errorf("postgres roles: %s: %w", sql, err)
		}
	}
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)`, publication).Scan(&exists); err != nil {
		return fmt.Errorf("postgres roles: publication %s: %w", publication, err)
	}
	if !exists {
		if _, err := admin.Exec(ctx, `CREATE PUBLICATION `+publication+` FOR TABLE `+tables); err != nil {
			return fmt.Errorf("postgres roles: create publication %s: %w", publication, err)
		}
	}
	return nil
}

// upsertRole creates role, or brings an existing one's attributes and password up to date. The
// statement is built by PostgreSQL's format() (%I, %L), so the password is quoted as a literal.
func upsertRole(ctx context.Context, admin *pgx.Conn, role, password, attrs string) error {
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role).Scan(&exists); err != nil {
		return fmt.Errorf("postgres roles: look up %s: %w", role, err)
	}
	verb := "CREATE"
	if exists {
		verb = "ALTER"
	}
	var sql string
	if err := admin.QueryRow(ctx, `SELECT format('%s ROLE %I WITH `+attrs+` PASSWORD %L', $1::text, $2::text, $3::text)`,
		verb, role, password).Scan(&sql); err != nil {
		return fmt.Errorf("postgres roles: %s role %s: %w", verb, role, err)
	}
	if _, err := admin.Exec(ctx, sql); err != nil {
		return fmt.Errorf("postgres roles: %s role %s failed (SQLSTATE only: %s)", verb, role, sqlState(err))
	}
	return nil
}

// sqlState keeps an error's SQLSTATE and drops its text, which may quote the statement (and
// with it a password).
func sqlState(err error) string {
	var pe interface{ SQLState() string }
	if errors.As(err, &pe) {
		return pe.SQLState()
	}
	return "unknown"
}

// DSNAs returns dsn (a postgres:// URL) logging in as user with password instead.
func DSNAs(dsn, user, password string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New("postgres roles: the DSN must be a postgres:// URL")
	}
	u.User = url.UserPassword(user, password)
	return u.String(), nil
}
