/** How Gatehouse reaches one directory server and looks people and groups up in it: the fields of its settings form. */
export interface LdapServerSettings {
  url: string;
  startTls: boolean;
  caCertificate: string;
  verifyCertificate: boolean;
  baseDn: string;
  groupSearchBase: string;
  userIdField: string;
  groupIdField: string;
  bindDn: string;
  emailAttribute: string;
  fullNameAttribute: string;
}
