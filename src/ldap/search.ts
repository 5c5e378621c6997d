import ldap from "ldapjs";
import type { DirectoryUser } from "passport-ldapauth";
import { DIRECTORY_TIMEOUTS, once } from "./connection.ts";
import { firstValue } from "./directory-entry.ts";

export const equals = (attribute: string, value: string) => new ldap.EqualityFilter({ attribute, value });

/**
 * The groups an entry is a member of: groupOfNames (member), groupOfUniqueNames (uniqueMember) and posixGroup
 * (memberUid). Built as filter objects from the values the directory returned: ldapjs sends a filter string's
 * `\xx` escapes as they are, so a DN with escaped characters would match nothing through a string template.
 */
export function groupFilter(user: DirectoryUser): ldap.Filter {
  const memberships = [
    new ldap.AndFilter({ filters: [equals("objectClass", "groupOfNames"), equals("member", user.dn)] }),
    new ldap.AndFilter({ filters: [equals("objectClass", "groupOfUniqueNames"), equals("uniqueMember", user.dn)] }),
  ];
  const uid = firstValue(user.uid);
  if (uid) memberships.push(new ldap.AndFilter({ filters: [equals("objectClass", "posixGroup"), equals("memberUid", uid)] }));
  return new ldap.OrFilter({ filters: memberships });
}

export function searchAll(client: ldap.Client, base: string, options: ldap.SearchOptions): Promise<ldap.SearchEntry[]> {
  return once(
    (resolve, reject) => {
      client.search(base, options, (error, result) => {
        if (error) return reject(error);
        const entries: ldap.SearchEntry[] = [];
        result.on("searchEntry", (entry) => entries.push(entry));
        result.on("error", reject);
        result.on("end", () => resolve(entries));
      });
    },
    DIRECTORY_TIMEOUTS.operationMs,
    "search",
  );
}
